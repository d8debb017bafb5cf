import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { Badge, Button, Card, Dialog, Empty, ErrorBanner, Link, PageHeader, Stat } from '../components/ui.js';
import { useConsole } from '../context.js';
import { useLoad } from '../hooks.js';
import { count } from '../format.js';
import { navigate } from '../router.js';
import { findDestination } from './queue.js';

export function TopicPage(props: { name: string }): JSX.Element {
  const { api, me, notify } = useConsole();
  const topic = useLoad(() => findDestination(api, 'topic', props.name), [props.name], 2000);
  const subs = useLoad(() => api.subscriptions(), [], 5000);
  const [deleting, setDeleting] = useState(false);
  const d = topic.data ?? undefined;
  const mine = (subs.data?.items ?? []).filter((s) => s.topic === props.name || s.topic === `topic://${props.name}`);
  return (
    <div class="page">
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href="/destinations?kind=topic">Destinations</Link> <span aria-hidden="true">/</span> <span>Topics</span>
      </nav>
      <PageHeader title={<span class="mono">{props.name}</span>} subtitle={topic.data === null ? 'This topic does not exist (any more).' : 'Topic'}>
        {me.manage && d !== undefined && (
          <>
            <Button onClick={() => navigate(`/send?to=${encodeURIComponent(`topic://${props.name}`)}`)}>Publish message</Button>
            <Button variant="danger" onClick={() => setDeleting(true)}>
              Delete topic
            </Button>
          </>
        )}
      </PageHeader>
      <ErrorBanner error={topic.error} />
      {d !== undefined && (
        <div class="stats">
          <Stat label="Published" value={count(d.enqueued)} tone="teal" />
          <Stat label="Delivered" value={count(d.dequeued)} tone="indigo" />
          <Stat label="Subscribers" value={count(d.consumers)} />
          <Stat label="Producers" value={count(d.producers)} />
        </div>
      )}
      <Card title="Durable subscriptions">
        <ErrorBanner error={subs.error} />
        {mine.length === 0 ? (
          <Empty title="No durable subscriptions">Subscribers that are away keep nothing from this topic.</Empty>
        ) : (
          <table class="table">
            <thead>
              <tr>
                <th>Owner</th>
                <th>Name</th>
                <th>Selector</th>
                <th class="num">Waiting</th>
                <th>State</th>
              </tr>
            </thead>
            <tbody>
              {mine.map((s) => (
                <tr>
                  <td class="mono">{s.owner}</td>
                  <td class="mono">{s.name}</td>
                  <td class="mono">{s.selector ?? <span class="muted">–</span>}</td>
                  <td class="num">{count(s.depth)}</td>
                  <td>{s.active ? <Badge tone="green">active</Badge> : <Badge>away</Badge>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      {deleting && (
        <Dialog
          title={`Delete topic ${props.name}`}
          confirm="Delete topic"
          danger
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await api.deleteDestination('topic', props.name);
            notify(`Topic ${props.name} deleted`);
            navigate('/destinations?kind=topic');
          }}
        >
          <p>The topic goes; a client that uses the name again creates it afresh.</p>
        </Dialog>
      )}
    </div>
  );
}
