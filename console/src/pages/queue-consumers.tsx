import type { JSX } from 'preact';
import { Badge, Card, Empty, ErrorBanner, Link } from '../components/ui.js';
import { useConsole } from '../context.js';
import { useLoad } from '../hooks.js';
import { count, rate } from '../format.js';

/**
 * The consumers of one queue, as ActiveMQ's console lists a queue's active consumers and RabbitMQ's
 * its consumers: whose they are, and how far each is behind. `total` is the queue's own count,
 * which includes consumers on a wildcard pattern that the API lists under the pattern.
 */
export function QueueConsumers(props: { queue: string; total: number | undefined }): JSX.Element {
  const { api } = useConsole();
  const list = useLoad(() => api.consumers(`queue://${props.queue}`), [props.queue], 2000);
  const items = list.data?.items ?? [];
  const throughPatterns = props.total === undefined || list.data === undefined ? 0 : props.total - items.length;
  return (
    <Card title="Consumers" class="queue-consumers">
      <ErrorBanner error={list.error} onRetry={list.reload} />
      {list.data !== undefined &&
        (items.length === 0 ? (
          throughPatterns <= 0 && <Empty title="No consumers">Messages wait here until a client subscribes to this queue.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="table table-compact consumers">
              <thead>
                <tr>
                  <th>Client id</th>
                  <th>Protocol</th>
                  <th>Address</th>
                  <th>User</th>
                  <th>Selector</th>
                  <th class="num">Prefetch</th>
                  <th class="num">In flight</th>
                  <th class="num">Delivered</th>
                  <th class="num">Acknowledged</th>
                  <th class="num">Rate</th>
                </tr>
              </thead>
              <tbody>
                {items.map((c) => (
                  <tr data-consumer-connection={c.connectionId}>
                    <td class="mono ellipsis">
                      <Link href="/connections" title={`connection ${c.connectionId}`}>
                        {c.clientId ?? c.connectionId}
                      </Link>
                      {c.exclusive && <Badge tone="amber">exclusive</Badge>}
                      {c.priority !== 0 && <Badge>priority {c.priority}</Badge>}
                    </td>
                    <td>
                      <Badge tone="blue">{c.protocol}</Badge>
                    </td>
                    <td class="mono">{c.remoteAddress}</td>
                    <td>{c.user ?? <span class="muted">anonymous</span>}</td>
                    <td class="mono">{c.selector ?? <span class="muted">–</span>}</td>
                    <td class="num">{count(c.prefetch)}</td>
                    <td class="num">{count(c.inFlight)}</td>
                    <td class="num">{count(c.delivered)}</td>
                    <td class="num">{count(c.acknowledged)}</td>
                    <td class="num nowrap">{rate(c.rate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
      {throughPatterns > 0 && (
        <p class="muted">
          {count(throughPatterns)} more {throughPatterns === 1 ? 'consumer takes' : 'consumers take'} from this queue through a wildcard pattern: see{' '}
          <Link href="/connections">Connections</Link>.
        </p>
      )}
    </Card>
  );
}
