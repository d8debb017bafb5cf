import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { errorText, type BrokerInfo } from '../api.js';
import { LineChart } from '../components/chart.js';
import { Badge, Card, ErrorBanner, PageHeader, Spinner, Stat } from '../components/ui.js';
import { useConsole } from '../context.js';
import { bytes, compact, count, duration, rate } from '../format.js';

const INTERVAL_MS = 2000;
const CAPACITY = 150; // five minutes of samples

interface Sample {
  readonly at: number;
  readonly info: BrokerInfo;
}

interface History {
  readonly rateIn: number[];
  readonly rateOut: number[];
  readonly depth: number[];
  readonly connections: number[];
  last: Sample | undefined;
}

// Kept while the console is open, so coming back to the overview shows the minutes already seen.
const history: History = { rateIn: [], rateOut: [], depth: [], connections: [], last: undefined };

function push(series: number[], value: number): void {
  series.push(value);
  if (series.length > CAPACITY) series.shift();
}

function record(info: BrokerInfo, at: number): void {
  const last = history.last;
  // a rate over a gap (the overview was left, the broker did not answer) would smear a burst: none then
  if (last !== undefined && at > last.at && at - last.at < 3 * INTERVAL_MS && info.startedAt === last.info.startedAt) {
    const seconds = (at - last.at) / 1000;
    push(history.rateIn, Math.max(0, (info.messages.enqueued - last.info.messages.enqueued) / seconds));
    push(history.rateOut, Math.max(0, (info.messages.dequeued - last.info.messages.dequeued) / seconds));
  }
  push(history.depth, info.messages.pending);
  push(history.connections, info.connections.total);
  history.last = { at, info };
}

export function Overview(): JSX.Element {
  const { api } = useConsole();
  const [, setTick] = useState(0);
  const [error, setError] = useState<string | undefined>(undefined);

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async (): Promise<void> => {
      try {
        const info = await api.broker();
        if (!live) return;
        record(info, performance.now());
        setError(undefined);
      } catch (err) {
        if (!live) return;
        setError(errorText(err));
      }
      setTick((t) => t + 1);
      if (live) timer = setTimeout(() => void poll(), INTERVAL_MS);
    };
    void poll();
    return () => {
      live = false;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, []);

  const info = history.last?.info;
  const lastIn = history.rateIn[history.rateIn.length - 1] ?? 0;
  const lastOut = history.rateOut[history.rateOut.length - 1] ?? 0;

  return (
    <div class="page">
      <PageHeader
        title="Overview"
        subtitle={
          info === undefined ? (
            'Connecting to the broker…'
          ) : (
            <>
              <b>{info.name}</b> · Ferry {info.version} · up {duration(info.uptimeSeconds)}
            </>
          )
        }
      >
        <span class="live">
          <i aria-hidden="true" /> Live, every 2 s
        </span>
      </PageHeader>
      <ErrorBanner error={error} />
      {info === undefined ? (
        error === undefined && (
          <div class="center">
            <Spinner />
          </div>
        )
      ) : (
        <>
          <div class="stats">
            <Stat label="Messages in" value={rate(lastIn)} detail={`${count(info.messages.enqueued)} since start`} tone="teal" />
            <Stat label="Messages out" value={rate(lastOut)} detail={`${count(info.messages.dequeued)} since start`} tone="indigo" />
            <Stat label="Waiting" value={compact(info.messages.pending)} detail={waitingIn(info.messages.waitingIn)} tone="amber" />
            <Stat label="Connections" value={count(info.connections.total)} detail={Object.entries(info.connections.byProtocol).map(([p, n]) => `${p} ${n}`).join(' · ') || 'none open'} tone="rose" />
          </div>
          <div class="grid-2">
            <Card title="Message rates">
              <LineChart
                capacity={CAPACITY}
                intervalSeconds={INTERVAL_MS / 1000}
                format={(n) => compact(Math.round(n * 10) / 10)}
                series={[
                  { label: 'in', tone: 'teal', values: history.rateIn },
                  { label: 'out', tone: 'indigo', values: history.rateOut },
                ]}
              />
            </Card>
            <Card title="Messages waiting">
              <LineChart capacity={CAPACITY} intervalSeconds={INTERVAL_MS / 1000} whole format={(n) => compact(Math.round(n))} series={[{ label: 'waiting', tone: 'amber', values: history.depth }]} />
            </Card>
            <Card title="Connections">
              <LineChart capacity={CAPACITY} intervalSeconds={INTERVAL_MS / 1000} whole format={(n) => compact(Math.round(n))} series={[{ label: 'connections', tone: 'rose', values: history.connections }]} />
            </Card>
            <Card title="Broker">
              <dl class="facts">
                <dt>Store</dt>
                <dd>
                  {info.store.type === 'journal'
                    ? `Journal, ${count(info.store.files)} files, ${bytes(info.store.bytes)}`
                    : info.store.type === 'postgres'
                      ? `PostgreSQL, ${count(info.store.records ?? 0)} records, ${bytes(info.store.bytes)}${info.store.failing == null ? '' : `; commits failing since ${info.store.failing.since}`}`
                      : 'Memory (nothing survives a restart)'}
                </dd>
                {info.store.type === 'journal' && (
                  <>
                    <dt>Data folder</dt>
                    <dd class="mono">{info.store.directory}</dd>
                  </>
                )}
                <dt>Memory</dt>
                <dd>
                  {bytes(info.memory.rss)} resident · heap {bytes(info.memory.heapUsed)} of {bytes(info.memory.heapTotal)}
                </dd>
                <dt>Body cache</dt>
                <dd>
                  <div class="meter" aria-hidden="true">
                    <span style={{ width: `${Math.min(100, (100 * info.bodyCache.bytes) / Math.max(1, info.bodyCache.limit))}%` }} />
                  </div>
                  {bytes(info.bodyCache.bytes)} of {bytes(info.bodyCache.limit)}
                </dd>
                <dt>Destinations</dt>
                <dd>
                  {count(info.destinations.queues)} queues · {count(info.destinations.topics)} topics
                </dd>
                <dt>Listeners</dt>
                <dd class="listeners">
                  {info.listeners.map((l) => (
                    <Badge tone={l.tls ? 'green' : 'blue'}>
                      {l.name} :{l.port}
                    </Badge>
                  ))}
                </dd>
              </dl>
            </Card>
          </div>
        </>
      )}
    </div>
  );
}

/** Where messages wait: the queues and durable subscriptions that hold some, not every queue there is. */
function waitingIn(places: { queues: number; subscriptions: number }): string {
  const parts: string[] = [];
  if (places.queues > 0) parts.push(`${count(places.queues)} ${places.queues === 1 ? 'queue' : 'queues'}`);
  if (places.subscriptions > 0) parts.push(`${count(places.subscriptions)} durable ${places.subscriptions === 1 ? 'subscription' : 'subscriptions'}`);
  return parts.length === 0 ? 'nothing waiting' : `in ${parts.join(' and ')}`;
}
