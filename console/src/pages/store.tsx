import type { JSX } from 'preact';
import type { DatabaseReport, JournalReport } from '../api.js';
import { ApiError } from '../api.js';
import { Card, Empty, ErrorBanner, PageHeader, Spinner, Stat } from '../components/ui.js';
import { useConsole } from '../context.js';
import { useLoad } from '../hooks.js';
import { bytes, count } from '../format.js';

type Segment = JournalReport['store']['segments'][number];

/** What keeps a file on disk, grouped: "message waiting in queue orders" ×120 reads better than 120 lines. */
function keepers(segment: Segment, owners: JournalReport['owners']): [string, number][] {
  const reasons = new Map<string, number>();
  for (const id of segment.keptAliveBy) {
    const owner = owners[String(id)] ?? `record ${id}`;
    reasons.set(owner, (reasons.get(owner) ?? 0) + 1);
  }
  return [...reasons].sort((a, b) => b[1] - a[1]);
}

export function StorePage(): JSX.Element {
  const { api } = useConsole();
  const report = useLoad(
    async () => {
      try {
        return await api.store();
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }
    },
    [],
    5000,
  );
  if (report.data?.type === 'postgres') return <DatabasePage report={report.data} />;
  const r = report.data;
  const live = r?.store.segments.reduce((n, s) => n + s.liveBytes, 0) ?? 0;
  const dead = r?.store.segments.reduce((n, s) => n + s.deadBytes, 0) ?? 0;
  return (
    <div class="page">
      <PageHeader title="Store" subtitle="The journal's files, how much of each is still live, and what keeps each one on disk." />
      <ErrorBanner error={report.error} onRetry={report.reload} />
      {r === undefined ? (
        report.error === undefined && (
          <div class="center">
            <Spinner />
          </div>
        )
      ) : r === null ? (
        <Card>
          <Empty title="Memory store">This broker keeps its messages in memory only: there are no files, and nothing survives a restart.</Empty>
        </Card>
      ) : (
        <>
          <div class="stats">
            <Stat label="On disk" value={bytes(r.store.diskBytes)} tone="teal" />
            <Stat label="Files" value={count(r.store.segments.length)} />
            <Stat label="Live" value={bytes(live)} tone="indigo" detail="records still needed" />
            <Stat label="Dead" value={bytes(dead)} tone="amber" detail="reclaimed by deletion or compaction" />
          </div>
          <Card title="Journal files">
            {r.store.segments.length === 0 ? (
              <Empty title="No files yet">The journal writes its first file with the first persistent record.</Empty>
            ) : (
              <div class="segments">
                {r.store.segments.map((s) => {
                  const reasons = keepers(s, r.owners);
                  // the report names a sample of each file's records: the counts above are of that sample
                  const unnamed = s.liveRecords - s.keptAliveBy.length;
                  const livePct = s.size === 0 ? 0 : (100 * s.liveBytes) / s.size;
                  const deadPct = s.size === 0 ? 0 : (100 * s.deadBytes) / s.size;
                  return (
                    <div class="segment">
                      <div class="segment-head">
                        <span class="mono segment-file">{s.file}</span>
                        <span class="muted">
                          {bytes(s.size)} · {count(s.liveRecords)} live record{s.liveRecords === 1 ? '' : 's'}
                        </span>
                      </div>
                      <div class="usage" role="img" aria-label={`${bytes(s.liveBytes)} live, ${bytes(s.deadBytes)} dead`}>
                        <span class="usage-live" style={{ width: `${livePct}%` }} />
                        <span class="usage-dead" style={{ width: `${deadPct}%` }} />
                      </div>
                      <div class="usage-legend">
                        <span>
                          <i class="dot dot-live" /> live {bytes(s.liveBytes)}
                        </span>
                        <span>
                          <i class="dot dot-dead" /> dead {bytes(s.deadBytes)}
                        </span>
                      </div>
                      {(reasons.length > 0 || unnamed > 0 || s.waitsFor.length > 0) && (
                        <ul class="keepers">
                          {reasons.map(([owner, n]) => (
                            <li>
                              {owner}
                              {n > 1 && <span class="muted"> ×{count(n)}</span>}
                            </li>
                          ))}
                          {unnamed > 0 && (
                            <li class="muted">
                              and {count(unnamed)} more live record{unnamed === 1 ? '' : 's'}, not named
                            </li>
                          )}
                          {s.waitsFor.length > 0 && <li>deletes of records in {s.waitsFor.join(', ')}, which must go first</li>}
                        </ul>
                      )}
                    </div>
                  );
                })}
              </div>
            )}
          </Card>
        </>
      )}
    </div>
  );
}

/** The PostgreSQL store keeps no files: what it holds, and whether its commits go through. */
function DatabasePage({ report }: { report: DatabaseReport }): JSX.Element {
  const { failing } = report;
  return (
    <div class="page">
      <PageHeader title="Store" subtitle="The PostgreSQL store: what it holds, and whether its commits go through." />
      <div class="stats">
        <Stat label="Records" value={count(report.records)} tone="teal" />
        <Stat label="Record data" value={bytes(report.bytes)} tone="indigo" />
        <Stat label="Failed commits" value={count(report.failedCommits)} tone="amber" detail="since the broker started; each batch is sent again" />
        <Stat label="Failed background reads" value={count(report.failedLoads)} detail="of waiting messages at start" />
      </div>
      <Card title="Commits">
        {failing === null ? (
          <p>Going through.</p>
        ) : (
          <p>
            Failing since {failing.since} ({count(failing.failedBatches)} failed batches): {failing.error}
          </p>
        )}
      </Card>
    </div>
  );
}
