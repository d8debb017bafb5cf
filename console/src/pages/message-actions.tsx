import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Selection } from '../api.js';
import { Dialog, Field } from '../components/ui.js';
import { useConsole } from '../context.js';
import { count } from '../format.js';

export type Action = 'move' | 'copy' | 'retry' | 'delete';

/** Which messages an action takes, as the user sees it. */
export interface Scope {
  readonly ids: readonly string[];
  /** The selector the list shows; with no ids, the action takes every message it picks. */
  readonly selector: string;
}

export function selectionOf(scope: Scope): Selection {
  if (scope.ids.length > 0) return { ids: scope.ids };
  if (scope.selector.trim() !== '') return { selector: scope.selector.trim() };
  return {};
}

export function describeScope(scope: Scope): string {
  if (scope.ids.length === 1) return 'this message';
  if (scope.ids.length > 0) return `${count(scope.ids.length)} selected messages`;
  if (scope.selector.trim() !== '') return 'every message the selector picks';
  return 'every message in the queue';
}

function plural(n: number, what: string): string {
  return `${count(n)} ${what}${n === 1 ? '' : 's'}`;
}

/** The messages picked that stayed because they were in flight to a consumer (the API takes waiting messages only). */
function leftInFlight(r: { inFlight?: string[] }, past: string): string {
  const n = r.inFlight?.length ?? 0;
  return n === 0 ? '' : `; ${plural(n, 'message')} in flight to a consumer, not ${past}`;
}

/** The dialog for move, copy, retry or delete of the messages in `scope`; `done` gets a sentence for the toast. */
export function MessageActionDialog(props: { queue: string; action: Action; scope: Scope; onClose: () => void; done: (note: string) => void }): JSX.Element {
  const { api } = useConsole();
  const [to, setTo] = useState('');
  const what = describeScope(props.scope);
  const target = (): string => (/^(queue|topic):\/\//.test(to.trim()) ? to.trim() : `queue://${to.trim()}`);

  if (props.action === 'move' || props.action === 'copy') {
    const verb = props.action === 'move' ? 'Move' : 'Copy';
    return (
      <Dialog
        title={`${verb} ${what}`}
        confirm={verb}
        onClose={props.onClose}
        onConfirm={async () => {
          if (props.action === 'move') {
            const r = await api.move(props.queue, target(), selectionOf(props.scope));
            props.done(`${plural(r.moved, 'message')} moved to ${target()}${leftInFlight(r, 'moved')}`);
          } else {
            const r = await api.copy(props.queue, target(), selectionOf(props.scope));
            props.done(`${plural(r.copied, 'message')} copied to ${target()}${leftInFlight(r, 'copied')}`);
          }
        }}
      >
        <Field label="To" hint="A queue name, or queue://name or topic://name">
          <input name="to" value={to} onInput={(e) => setTo(e.currentTarget.value)} required placeholder="queue://orders.retry" />
        </Field>
        <p class="muted">
          {props.action === 'move' ? 'The messages leave ' : 'The messages stay in '}
          <b>{props.queue}</b>
          {props.action === 'move' ? ' in the same store transaction that adds them to the target.' : ' and new copies are sent to the target.'}
        </p>
      </Dialog>
    );
  }
  if (props.action === 'retry') {
    return (
      <Dialog
        title={`Retry ${what}`}
        confirm="Retry"
        onClose={props.onClose}
        onConfirm={async () => {
          const r = await api.retry(props.queue, selectionOf(props.scope));
          props.done(`${plural(r.retried, 'message')} sent back to ${r.retried === 1 ? 'its' : 'their'} original destination${leftInFlight(r, 'retried')}`);
        }}
      >
        <p>Each message goes back to the destination it was dead-lettered from, with its delivery count reset.</p>
      </Dialog>
    );
  }
  return (
    <Dialog
      title={`Delete ${what}`}
      confirm="Delete"
      danger
      onClose={props.onClose}
      onConfirm={async () => {
        const ids = props.scope.ids;
        for (const id of ids) await api.deleteMessage(props.queue, id);
        props.done(`${plural(ids.length, 'message')} deleted`);
      }}
    >
      <p>This cannot be undone.</p>
    </Dialog>
  );
}
