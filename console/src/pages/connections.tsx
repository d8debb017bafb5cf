import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { errorText, type Connection, type ConnectionDetail } from '../api.js';
import { Badge, Button, Card, Dialog, Empty, ErrorBanner, PageHeader, Spinner } from '../components/ui.js';
import { useConsole } from '../context.js';
import { useLoad } from '../hooks.js';
import { ago, count, rate } from '../format.js';

export function Connections(): JSX.Element {
  const { api, me, notify } = useConsole();
  const list = useLoad(() => api.connections(), [], 2000);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const [closing, setClosing] = useState<Connection | undefined>(undefined);
  const items = list.data?.items ?? [];
  const columns = me.manage ? 11 : 10;
  return (
    <div class="page">
      <PageHeader title="Connections" subtitle="Clients connected now, over every protocol." />
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <Card>
        {list.data === undefined ? (
          list.error === undefined && (
            <div class="center">
              <Spinner />
            </div>
          )
        ) : items.length === 0 ? (
          <Empty title="No clients connected">Connections appear here as clients connect over STOMP, MQTT, AMQP or OpenWire.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="table connections">
              <thead>
                <tr>
                  <th>Protocol</th>
                  <th>Address</th>
                  <th>User</th>
                  <th>Client id</th>
                  <th>Connected</th>
                  <th class="num">Consumers</th>
                  <th class="num">Producers</th>
                  <th class="num">In flight</th>
                  <th class="num">In</th>
                  <th class="num">Out</th>
                  {me.manage && <th />}
                </tr>
              </thead>
              <tbody>
                {items.map((c) => (
                  <>
                    <tr class={`clickable${open === c.id ? ' open' : ''}`} onClick={() => setOpen(open === c.id ? undefined : c.id)} data-connection={c.id}>
                      <td>
                        <Badge tone="blue">{c.protocol}</Badge>
                      </td>
                      <td class="mono">{c.remoteAddress}</td>
                      <td>{c.user ?? <span class="muted">anonymous</span>}</td>
                      <td class="mono ellipsis">{c.clientId ?? <span class="muted">–</span>}</td>
                      <td class="nowrap" title={c.connectedAt}>
                        {ago(c.connectedAt)}
                      </td>
                      <td class="num">{count(c.consumers)}</td>
                      <td class="num">{count(c.producers)}</td>
                      <td class="num">{count(c.inFlight)}</td>
                      <td class="num nowrap" title={`${count(c.messagesIn)} in all`}>
                        {rate(c.rateIn)}
                      </td>
                      <td class="num nowrap" title={`${count(c.messagesOut)} in all`}>
                        {rate(c.rateOut)}
                      </td>
                      {me.manage && (
                        <td class="actions" onClick={(e) => e.stopPropagation()}>
                          <Button small variant="danger" onClick={() => setClosing(c)}>
                            Close
                          </Button>
                        </td>
                      )}
                    </tr>
                    {open === c.id && (
                      <tr class="detail-row">
                        <td colSpan={columns}>
                          <ConnectionDetailView id={c.id} />
                        </td>
                      </tr>
                    )}
                  </>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      {closing !== undefined && (
        <Dialog
          title="Close connection"
          confirm="Close connection"
          danger
          onClose={() => setClosing(undefined)}
          onConfirm={async () => {
            await api.closeConnection(closing.id);
            notify(`Connection from ${closing.remoteAddress} closed`);
            list.reload();
          }}
        >
          <p>
            The {closing.protocol} connection from <span class="mono">{closing.remoteAddress}</span>
            {closing.user !== null ? ` (${closing.user})` : ''} is closed; its unacknowledged messages go back to their queues.
          </p>
        </Dialog>
      )}
    </div>
  );
}

function ConnectionDetailView(props: { id: string }): JSX.Element {
  const { api } = useConsole();
  const [detail, setDetail] = useState<ConnectionDetail | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    api.connection(props.id).then(setDetail, (err: unknown) => setError(errorText(err)));
  }, [props.id]);
  if (error !== undefined) return <ErrorBanner error={error} />;
  if (detail === undefined) return <Spinner />;
  return (
    <div class="detail-grid">
      <div class="detail-wide">
        <h3>Sessions</h3>
        {detail.sessionList.length === 0 ? (
          <p class="muted">None.</p>
        ) : (
          <table class="table table-compact sessions">
            <thead>
              <tr>
                <th>Session</th>
                <th>Opened</th>
                <th class="num">Consumers</th>
                <th class="num">In flight</th>
                <th class="num">In</th>
                <th class="num">Out</th>
              </tr>
            </thead>
            <tbody>
              {detail.sessionList.map((s) => (
                <tr data-session={s.id}>
                  <td class="mono">{s.id}</td>
                  <td class="nowrap" title={s.openedAt}>
                    {ago(s.openedAt)}
                  </td>
                  <td class="num">{count(s.consumers)}</td>
                  <td class="num">{count(s.inFlight)}</td>
                  <td class="num nowrap" title={`${count(s.messagesIn)} in all`}>
                    {rate(s.rateIn)}
                  </td>
                  <td class="num nowrap" title={`${count(s.messagesOut)} in all`}>
                    {rate(s.rateOut)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      <div>
        <h3>Consumers</h3>
        {detail.consumerList.length === 0 ? (
          <p class="muted">None.</p>
        ) : (
          <table class="table table-compact">
            <thead>
              <tr>
                <th>Destination</th>
                <th>Selector</th>
                <th class="num">Prefetch</th>
                <th class="num">In flight</th>
                <th class="num">Delivered</th>
                <th class="num">Acknowledged</th>
              </tr>
            </thead>
            <tbody>
              {detail.consumerList.map((c) => (
                <tr>
                  <td class="mono">
                    {c.destination}
                    {c.durableName !== null && <Badge>durable {c.durableName}</Badge>}
                    {c.exclusive && <Badge tone="amber">exclusive</Badge>}
                  </td>
                  <td class="mono">{c.selector ?? <span class="muted">–</span>}</td>
                  <td class="num">{count(c.prefetch)}</td>
                  <td class="num">{count(c.inFlight)}</td>
                  <td class="num">{count(c.delivered)}</td>
                  <td class="num">{count(c.acknowledged)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      <div>
        <h3>Producers</h3>
        {detail.producerList.length === 0 ? (
          <p class="muted">None.</p>
        ) : (
          <table class="table table-compact">
            <thead>
              <tr>
                <th>Destination</th>
                <th class="num">Sent</th>
              </tr>
            </thead>
            <tbody>
              {detail.producerList.map((p) => (
                <tr>
                  <td class="mono">{p.destination}</td>
                  <td class="num">{count(p.sent)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </div>
  );
}
