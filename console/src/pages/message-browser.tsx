import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { errorText, type MessageDetail, type MessageSummary } from '../api.js';
import { Badge, Button, Card, Empty, ErrorBanner, Spinner } from '../components/ui.js';
import { useConsole } from '../context.js';
import { useLoad } from '../hooks.js';
import { bytes, count, timestamp } from '../format.js';
import { MessageActionDialog, type Action, type Scope } from './message-actions.js';
import { MessageView } from './message-view.js';

const PAGE = 50;

/**
 * A queue's waiting messages, a page at a time, without consuming them; with the manage
 * permission, one message whole and the actions on one, on those ticked, or on all the selector picks.
 */
export function MessageBrowser(props: { queue: string; deadLetter: boolean; onChanged: () => void }): JSX.Element {
  const { api, me, notify } = useConsole();
  const [selectorText, setSelectorText] = useState('');
  const [selector, setSelector] = useState('');
  const [offset, setOffset] = useState(0);
  const [ticked, setTicked] = useState<ReadonlySet<string>>(new Set());
  const [open, setOpen] = useState<string | undefined>(undefined);
  const [action, setAction] = useState<{ action: Action; scope: Scope } | undefined>(undefined);
  const list = useLoad(() => api.messages(props.queue, { ...(selector === '' ? {} : { selector }), offset, limit: PAGE }), [props.queue, selector, offset], 5000);

  // a refused browse (a selector that does not parse) has no list: the last good one would pass for its answer
  const items = list.error === undefined ? (list.data?.items ?? []) : [];
  const allTicked = items.length > 0 && items.every((m) => ticked.has(m.id));
  const toggle = (id: string): void =>
    setTicked((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  const tickAll = (): void => setTicked(allTicked ? new Set() : new Set(items.map((m) => m.id)));
  const scope: Scope = { ids: [...ticked], selector };
  const canRetry = props.deadLetter || items.some((m) => m.originalDestination !== null);

  const done = (note: string): void => {
    notify(note);
    setTicked(new Set());
    setOpen(undefined);
    list.reload();
    props.onChanged();
  };

  return (
    <Card
      title="Messages"
      class="browser"
      actions={
        me.manage && (
          <div class="button-row">
            <span class="muted">{ticked.size > 0 ? `${count(ticked.size)} selected` : selector === '' ? 'All messages' : 'All matching'}</span>
            {canRetry && (
              <Button small onClick={() => setAction({ action: 'retry', scope })} disabled={items.length === 0}>
                Retry
              </Button>
            )}
            <Button small onClick={() => setAction({ action: 'move', scope })} disabled={items.length === 0}>
              Move…
            </Button>
            <Button small onClick={() => setAction({ action: 'copy', scope })} disabled={items.length === 0}>
              Copy…
            </Button>
            <Button small variant="danger" onClick={() => setAction({ action: 'delete', scope })} disabled={ticked.size === 0}>
              Delete
            </Button>
          </div>
        )
      }
    >
      <form
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setOffset(0);
          setTicked(new Set());
          setSelector(selectorText.trim());
        }}
      >
        <input class="search mono" name="selector" placeholder="JMS selector, e.g. priority > 4 AND region = 'eu'" aria-label="Selector" value={selectorText} onInput={(e) => setSelectorText(e.currentTarget.value)} />
        <Button type="submit">Apply</Button>
        {selector !== '' && (
          <Button
            variant="ghost"
            onClick={() => {
              setSelectorText('');
              setSelector('');
              setOffset(0);
            }}
          >
            Clear
          </Button>
        )}
      </form>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      {list.error !== undefined ? null : list.data === undefined ? (
        <div class="center">
          <Spinner />
        </div>
      ) : items.length === 0 ? (
        <Empty title={selector === '' ? (offset > 0 ? 'No more messages' : 'No messages waiting') : 'No message matches the selector'}>
          {selector === '' ? (props.deadLetter ? 'Nothing has been dead-lettered here.' : 'Messages sent to this queue wait here until a consumer takes them.') : 'Check the selector, or clear it to see every message.'}
        </Empty>
      ) : (
        <div class="table-wrap">
          <table class="table messages">
            <thead>
              <tr>
                {me.manage && (
                  <th class="check">
                    <input type="checkbox" aria-label="Select all on this page" checked={allTicked} onChange={tickAll} />
                  </th>
                )}
                <th>Message id</th>
                <th>Sent</th>
                {props.deadLetter && <th>From</th>}
                <th>Type</th>
                <th class="num">Priority</th>
                <th class="num">Deliveries</th>
                <th class="num">Size</th>
              </tr>
            </thead>
            <tbody>
              {items.map((m) => (
                <MessageRow message={m} deadLetter={props.deadLetter} ticked={ticked.has(m.id)} open={open === m.id} onTick={() => toggle(m.id)} onOpen={() => setOpen(open === m.id ? undefined : m.id)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.error === undefined && list.data !== undefined && (offset > 0 || list.data.more) && (
        <div class="pager">
          <Button small disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
            Previous
          </Button>
          <span class="muted">
            {count(offset + 1)}–{count(offset + items.length)}
          </span>
          <Button small disabled={!list.data.more} onClick={() => setOffset(offset + PAGE)}>
            Next
          </Button>
        </div>
      )}
      {open !== undefined && me.manage && (
        <MessagePanel queue={props.queue} id={open} deadLetter={props.deadLetter} onClose={() => setOpen(undefined)} onAction={(a) => setAction({ action: a, scope: { ids: [open], selector: '' } })} />
      )}
      {action !== undefined && <MessageActionDialog queue={props.queue} action={action.action} scope={action.scope} onClose={() => setAction(undefined)} done={done} />}
    </Card>
  );
}

function MessageRow(props: { message: MessageSummary; deadLetter: boolean; ticked: boolean; open: boolean; onTick: () => void; onOpen: () => void }): JSX.Element {
  const { me } = useConsole();
  const m = props.message;
  return (
    <tr class={`${props.open ? 'open' : ''}${me.manage ? ' clickable' : ''}`} onClick={me.manage ? props.onOpen : undefined}>
      {me.manage && (
        <td class="check" onClick={(e) => e.stopPropagation()}>
          <input type="checkbox" aria-label={`Select ${m.id}`} checked={props.ticked} onChange={props.onTick} />
        </td>
      )}
      <td class="mono nowrap" title={m.id}>
        {m.id}
        {m.redelivered && <Badge tone="amber">redelivered</Badge>}
        {!m.persistent && <Badge>non-persistent</Badge>}
      </td>
      <td class="nowrap">{timestamp(m.timestamp)}</td>
      {props.deadLetter && <td class="mono ellipsis">{m.originalDestination ?? '–'}</td>}
      <td class="ellipsis">{m.type ?? <span class="muted">–</span>}</td>
      <td class="num">{m.priority}</td>
      <td class="num">{m.deliveryCount}</td>
      <td class="num nowrap">{bytes(m.bodyBytes)}</td>
    </tr>
  );
}

function MessagePanel(props: { queue: string; id: string; deadLetter: boolean; onClose: () => void; onAction: (a: Action) => void }): JSX.Element {
  const { api } = useConsole();
  const [message, setMessage] = useState<MessageDetail | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    setMessage(undefined);
    setError(undefined);
    api.message(props.queue, props.id).then(setMessage, (err: unknown) => setError(errorText(err)));
  }, [props.queue, props.id]);
  return (
    <div class="panel" aria-label="Message">
      <div class="panel-head">
        <h3 class="mono ellipsis">{props.id}</h3>
        <div class="button-row">
          {(props.deadLetter || message?.originalDestination != null) && (
            <Button small onClick={() => props.onAction('retry')}>
              Retry
            </Button>
          )}
          <Button small onClick={() => props.onAction('move')}>
            Move…
          </Button>
          <Button small onClick={() => props.onAction('copy')}>
            Copy…
          </Button>
          <Button small variant="danger" onClick={() => props.onAction('delete')}>
            Delete
          </Button>
          <Button small variant="ghost" onClick={props.onClose} aria-label="Close">
            ✕
          </Button>
        </div>
      </div>
      <ErrorBanner error={error} />
      {message === undefined ? error === undefined && <Spinner /> : <MessageView message={message} />}
    </div>
  );
}
