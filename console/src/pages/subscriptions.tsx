import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Subscription } from '../api.js';
import { Badge, Button, Card, Dialog, Empty, ErrorBanner, Link, PageHeader, Spinner } from '../components/ui.js';
import { useConsole } from '../context.js';
import { useLoad } from '../hooks.js';
import { count } from '../format.js';

function topicName(topic: string): string {
  return topic.replace(/^topic:\/\//, '');
}

export function Subscriptions(): JSX.Element {
  const { api, me, notify } = useConsole();
  const list = useLoad(() => api.subscriptions(), [], 3000);
  const [deleting, setDeleting] = useState<Subscription | undefined>(undefined);
  const items = list.data?.items ?? [];
  return (
    <div class="page">
      <PageHeader title="Durable subscriptions" subtitle="Topic subscriptions that keep messages for their subscriber while it is away." />
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <Card>
        {list.data === undefined ? (
          list.error === undefined && (
            <div class="center">
              <Spinner />
            </div>
          )
        ) : items.length === 0 ? (
          <Empty title="No durable subscriptions">JMS durable subscribers, MQTT sessions that are not clean and AMQP durable links show up here.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="table">
              <thead>
                <tr>
                  <th>Owner</th>
                  <th>Name</th>
                  <th>Topic</th>
                  <th>Selector</th>
                  <th class="num">Waiting</th>
                  <th>State</th>
                  {me.manage && <th />}
                </tr>
              </thead>
              <tbody>
                {items.map((s) => (
                  <tr>
                    <td class="mono">{s.owner}</td>
                    <td class="mono">{s.name}</td>
                    <td class="mono">
                      <Link href={`/topics/${encodeURIComponent(topicName(s.topic))}`}>{topicName(s.topic)}</Link>
                    </td>
                    <td class="mono">
                      {s.selector ?? <span class="muted">–</span>}
                      {s.noLocal && <Badge>no local</Badge>}
                    </td>
                    <td class={`num${s.depth > 0 ? ' strong' : ''}`}>{count(s.depth)}</td>
                    <td>{s.active ? <Badge tone="green">active</Badge> : <Badge>away</Badge>}</td>
                    {me.manage && (
                      <td class="actions">
                        <Button small variant="danger" onClick={() => setDeleting(s)}>
                          Delete
                        </Button>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      {deleting !== undefined && (
        <Dialog
          title="Delete durable subscription"
          confirm="Delete subscription"
          danger
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await api.deleteSubscription(deleting.owner, deleting.name);
            notify(`Subscription ${deleting.owner}:${deleting.name} deleted`);
            list.reload();
          }}
        >
          <p>
            <span class="mono">
              {deleting.owner}:{deleting.name}
            </span>{' '}
            and the {count(deleting.depth)} messages it keeps go.
          </p>
        </Dialog>
      )}
    </div>
  );
}
