import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Scheduled } from '../api.js';
import { Button, Card, Dialog, Empty, ErrorBanner, PageHeader, Spinner } from '../components/ui.js';
import { useConsole } from '../context.js';
import { useLoad } from '../hooks.js';
import { bytes, count, duration, timestamp } from '../format.js';

const PAGE = 100;

function repeats(s: Scheduled): string {
  if (s.cron !== null) return `cron ${s.cron}`;
  if (s.repeatsLeft === 0) return 'once';
  const every = s.period > 0 ? ` every ${duration(s.period / 1000)}` : '';
  return s.repeatsLeft < 0 ? `forever${every}` : `${count(s.repeatsLeft)} more${every}`;
}

export function ScheduledPage(): JSX.Element {
  const { api, me, notify } = useConsole();
  const [offset, setOffset] = useState(0);
  const list = useLoad(() => api.scheduled(offset, PAGE + 1), [offset], 3000);
  const [cancelling, setCancelling] = useState<Scheduled | undefined>(undefined);
  const all = list.data?.items ?? [];
  const items = all.slice(0, PAGE);
  const more = all.length > PAGE;
  return (
    <div class="page">
      <PageHeader title="Scheduled messages" subtitle="Messages sent with a delay, a period or a cron expression, waiting for their time." />
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <Card>
        {list.data === undefined ? (
          list.error === undefined && (
            <div class="center">
              <Spinner />
            </div>
          )
        ) : items.length === 0 ? (
          <Empty title="Nothing scheduled">Messages sent with AMQ_SCHEDULED_DELAY, _PERIOD, _REPEAT or _CRON wait here until they are due.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="table">
              <thead>
                <tr>
                  <th>Id</th>
                  <th>Destination</th>
                  <th>Next due</th>
                  <th>Repeats</th>
                  <th class="num">Size</th>
                  {me.manage && <th />}
                </tr>
              </thead>
              <tbody>
                {items.map((s) => (
                  <tr>
                    <td class="mono ellipsis">{s.id}</td>
                    <td class="mono">{s.destination}</td>
                    <td class="nowrap">{timestamp(s.nextDue)}</td>
                    <td>{repeats(s)}</td>
                    <td class="num">{bytes(s.bodyBytes)}</td>
                    {me.manage && (
                      <td class="actions">
                        <Button small variant="danger" onClick={() => setCancelling(s)}>
                          Cancel
                        </Button>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {(offset > 0 || more) && (
          <div class="pager">
            <Button small disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
              Previous
            </Button>
            <span class="muted">
              {count(offset + 1)}–{count(offset + items.length)}
            </span>
            <Button small disabled={!more} onClick={() => setOffset(offset + PAGE)}>
              Next
            </Button>
          </div>
        )}
      </Card>
      {cancelling !== undefined && (
        <Dialog
          title="Cancel scheduled message"
          confirm="Cancel it"
          danger
          onClose={() => setCancelling(undefined)}
          onConfirm={async () => {
            await api.cancelScheduled(cancelling.id);
            notify('Scheduled message cancelled');
            list.reload();
          }}
        >
          <p>
            The message for <span class="mono">{cancelling.destination}</span> is not sent, now or on any later repeat.
          </p>
        </Dialog>
      )}
    </div>
  );
}
