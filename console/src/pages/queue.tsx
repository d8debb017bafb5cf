import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Destination } from '../api.js';
import { Badge, Button, Dialog, ErrorBanner, Link, PageHeader, Stat } from '../components/ui.js';
import { useConsole } from '../context.js';
import { isDeadLetterQueue } from '../dead-letter.js';
import { useLoad } from '../hooks.js';
import { count } from '../format.js';
import { navigate } from '../router.js';
import { MessageBrowser } from './message-browser.js';
import { QueueConsumers } from './queue-consumers.js';

/** One destination's figures; null when it does not exist. */
export function findDestination(api: ReturnType<typeof useConsole>['api'], kind: 'queue' | 'topic', name: string): Promise<Destination | null> {
  return api.destination(kind, name);
}

type Pending = 'purge' | 'delete' | undefined;

export function QueuePage(props: { name: string }): JSX.Element {
  const { api, me, notify } = useConsole();
  const queue = useLoad(() => findDestination(api, 'queue', props.name), [props.name], 2000);
  const [pending, setPending] = useState<Pending>(undefined);
  const [actionError, setActionError] = useState<string | undefined>(undefined);
  const d = queue.data ?? undefined;
  const deadLetter = isDeadLetterQueue(props.name, d ?? undefined);

  const togglePause = async (): Promise<void> => {
    if (d === undefined) return;
    setActionError(undefined);
    try {
      await api.pause(props.name, !d.paused);
      notify(d.paused ? `Dispatch from ${props.name} resumed` : `Dispatch from ${props.name} paused`);
      queue.reload();
    } catch (err) {
      setActionError(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <div class="page">
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href="/destinations">Destinations</Link> <span aria-hidden="true">/</span> <span>Queues</span>
      </nav>
      <PageHeader
        title={
          <>
            <span class="mono">{props.name}</span>
            {deadLetter && <Badge tone="red">dead letters</Badge>}
            {d?.paused === true && <Badge tone="amber">paused</Badge>}
            {d?.loading === true && <Badge tone="amber">loading from the store</Badge>}
          </>
        }
        subtitle={queue.data === null ? 'This queue does not exist (any more).' : 'Queue'}
      >
        {me.manage && d !== undefined && (
          <>
            <Button onClick={() => navigate(`/send?to=${encodeURIComponent(`queue://${props.name}`)}`)}>Send message</Button>
            <Button onClick={() => void togglePause()}>{d.paused ? 'Resume dispatch' : 'Pause dispatch'}</Button>
            <Button variant="danger" onClick={() => setPending('purge')} disabled={d.depth === 0 && !d.loading}>
              Purge
            </Button>
            <Button variant="danger" onClick={() => setPending('delete')}>
              Delete queue
            </Button>
          </>
        )}
      </PageHeader>
      <ErrorBanner error={queue.error ?? actionError} />
      {d !== undefined && (
        <div class="stats stats-6">
          <Stat label="Waiting" value={count(d.depth)} tone="amber" detail={loadingDetail(d)} />
          <Stat label="In flight" value={count(d.inFlight)} />
          <Stat label="Consumers" value={count(d.consumers)} />
          <Stat label="Enqueued" value={count(d.enqueued)} tone="teal" />
          <Stat label="Dequeued" value={count(d.dequeued)} tone="indigo" />
          <Stat label="Dead-lettered" value={count(d.deadLettered)} tone={d.deadLettered > 0 ? 'rose' : ''} />
        </div>
      )}
      {queue.data !== null && <MessageBrowser queue={props.name} deadLetter={deadLetter} onChanged={queue.reload} />}
      {queue.data !== null && <QueueConsumers queue={props.name} total={d?.consumers} />}
      {pending === 'purge' && (
        <Dialog
          title={`Purge ${props.name}`}
          confirm="Purge"
          danger
          onClose={() => setPending(undefined)}
          onConfirm={async () => {
            const r = await api.purge(props.name);
            notify(`${count(r.purged)} messages purged from ${props.name}`);
            queue.reload();
          }}
        >
          <p>
            Every waiting message ({waitingText(d)}) is dropped. Messages in flight to consumers stay. This cannot be undone.
          </p>
        </Dialog>
      )}
      {pending === 'delete' && (
        <Dialog
          title={`Delete queue ${props.name}`}
          confirm="Delete queue"
          danger
          onClose={() => setPending(undefined)}
          onConfirm={async () => {
            await api.deleteDestination('queue', props.name);
            notify(`Queue ${props.name} deleted`);
            navigate('/destinations');
          }}
        >
          <p>The queue and its {count(d?.depth ?? 0)} waiting messages go. A client that uses the name again creates it afresh.</p>
        </Dialog>
      )}
    </div>
  );
}

/** While a queue loads from the store: how many are still to come, or that the store has not counted them yet. */
function loadingDetail(d: Destination): string | undefined {
  if (!d.loading) return undefined;
  return d.toLoad === null ? 'loading from the store: not counted yet' : `${count(d.toLoad)} still loading from the store`;
}

function waitingText(d: Destination | undefined): string {
  if (d === undefined) return '0';
  return d.loading && d.toLoad === null ? `${count(d.depth)}, and those the store has not counted yet` : count(d.depth);
}
