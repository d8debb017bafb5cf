import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Broker, DatabaseStoreStatus } from '../core/index.js';
import type { DestinationFigures } from '../core/admin.js';
import { registerNetworkMetrics, type ConnectorFigures } from './network-metrics.js';
import { registerHaMetrics } from './ha-metrics.js';
import { haView, type HaView } from './controls/broker.js';

/** The name every destination past the cap is summed under. */
export const OTHER = '_other';

type Figure = 'depth' | 'inFlight' | 'enqueued' | 'dequeued' | 'expired' | 'deadLettered' | 'consumers' | 'producers';

/** The figures exported as counters, which must never go back. */
const COUNTED = ['enqueued', 'dequeued', 'expired', 'deadLettered'] as const;
type Counted = Record<(typeof COUNTED)[number], number>;

const keyOf = (d: { kind: string; name: string }): string => `${d.kind}:${d.name}`;

/**
 * `/metrics` in Prometheus' text format, through prom-client. Everything is read from the broker's
 * operator interface when Prometheus scrapes, so the message path pays for counters only; the
 * journal's sync latency and batch sizes come from the store's observer. Past `maxDestinations`
 * (in name order) the remaining destinations are summed under `name="_other"`, one series per
 * kind, so a broker with 10,000 queues does not make 80,000 series. The `_other` counters add up
 * what each destination counted while it was summed there, from one scrape to the next, so a
 * deletion, a destination moving up to a series of its own or a topic's subscriber leaving never
 * takes them back.
 */
export class BrokerMetrics {
  private readonly registry = new Registry();
  private readonly detachStore: () => void;
  /** The destinations' figures of the scrape under way. */
  private rows: DestinationFigures[] | undefined;
  /** Of the last scrape: the counters of the destinations summed under `_other`, and those with series of their own. */
  private lastOthers = new Map<string, Counted>();
  private lastKept = new Set<string>();
  /** The `_other` counters, by kind, as the last scrape exported them. */
  private readonly otherTotals = new Map<'queue' | 'topic', Counted>();

  constructor(
    private readonly broker: Broker,
    private readonly maxDestinations: number,
    network?: () => readonly ConnectorFigures[],
    protocols: readonly string[] = [],
    ha?: () => HaView,
  ) {
    const registry = this.registry;
    if (network !== undefined) registerNetworkMetrics(registry, network);
    registerHaMetrics(registry, () => haView(ha === undefined ? {} : { ha }));
    collectDefaultMetrics({ register: registry });
    // prom-client's counts of active handles are gauges named `_total`, which Prometheus' own lint
    // refuses (a `_total` is a counter): dropped, so a scrape passes `promtool check metrics`
    for (const metric of registry.getMetricsAsArray()) {
      if (metric.name.endsWith('_total') && String(metric.type) === 'gauge') registry.removeSingleMetric(metric.name);
    }
    const labelNames = ['kind', 'name'] as const;
    const perDestination = (figures: () => DestinationFigures[], read: (d: DestinationFigures) => number, set: (labels: { kind: string; name: string }, value: number) => void): void => {
      for (const d of figures()) set({ kind: d.kind, name: d.name }, read(d));
    };
    // one walk of the destinations per scrape, shared by every per-destination metric
    const rows = (): DestinationFigures[] => (this.rows ??= this.capped());
    const gauge = (name: string, help: string, figure: Figure): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          perDestination(rows, (d) => d[figure], (labels, value) => this.set(labels, value));
        },
      });
    };
    const counter = (name: string, help: string, figure: Figure): void => {
      new Counter({
        name,
        help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          perDestination(rows, (d) => d[figure], (labels, value) => this.inc(labels, value));
        },
      });
    };
    gauge('ferry_destination_depth', 'Messages waiting in a destination (a topic: in its subscriptions)', 'depth');
    gauge('ferry_destination_in_flight', 'Messages delivered and not yet acknowledged', 'inFlight');
    counter('ferry_destination_enqueued_total', 'Messages that reached the destination', 'enqueued');
    counter('ferry_destination_dequeued_total', 'Messages consumed from the destination', 'dequeued');
    counter('ferry_destination_expired_total', 'Messages that expired in the destination', 'expired');
    counter('ferry_destination_dead_lettered_total', 'Messages moved from the destination to a dead-letter queue', 'deadLettered');
    gauge('ferry_destination_consumers', 'Consumers of the destination', 'consumers');
    gauge('ferry_destination_producers', 'Connections that have sent to the destination', 'producers');
    // a depth that grows with consumers connected reads as dead consumers unless the pause shows too
    new Gauge({
      name: 'ferry_destination_paused',
      help: 'Whether an operator has paused the queue (1: its messages wait, undelivered, until resumed), else 0; queues only',
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const d of rows()) if (d.kind === 'queue') this.set({ kind: d.kind, name: d.name }, d.paused ? 1 : 0);
      },
    });

    new Gauge({
      name: 'ferry_connections',
      help: 'Client connections open, by protocol',
      labelNames: ['protocol'],
      registers: [registry],
      collect() {
        this.reset();
        // a protocol nobody is connected with reads 0, so a panel or an alert on it has a series
        for (const protocol of protocols) this.set({ protocol }, 0);
        for (const [protocol, n] of Object.entries(broker.admin.connectionsByProtocol())) this.set({ protocol }, n);
      },
    });
    new Gauge({
      name: 'ferry_journal_bytes',
      help: 'Bytes of the journal on disk',
      registers: [registry],
      collect() {
        this.set(broker.store.describe?.().diskBytes ?? 0);
      },
    });
    new Gauge({
      name: 'ferry_journal_files',
      help: 'Segment files of the journal',
      registers: [registry],
      collect() {
        this.set(broker.store.describe?.().segments.length ?? 0);
      },
    });
    new Gauge({
      name: 'ferry_store_refusing',
      help: 'Whether the store refuses new persistent messages now (1): journal writes failing or out of space, PostgreSQL commits failing',
      registers: [registry],
      collect() {
        this.set(broker.store.writeRefusal?.() === undefined ? 0 : 1);
      },
    });
    if (broker.store.databaseStatus !== undefined) registerDatabaseMetrics(registry, () => broker.store.databaseStatus!());
    new Gauge({
      name: 'ferry_body_cache_bytes',
      help: 'Bytes of persistent message bodies held in memory',
      registers: [registry],
      collect() {
        this.set(broker.admin.bodyCache().bytes);
      },
    });
    new Gauge({
      name: 'ferry_scheduled_messages',
      help: 'Scheduled jobs waiting (AMQ_SCHEDULED_DELAY, _PERIOD, _CRON), one for each that /api/v1/scheduled lists',
      registers: [registry],
      collect() {
        this.set(broker.admin.scheduledCount());
      },
    });
    new Counter({
      name: 'ferry_messages_enqueued_total',
      help: 'Messages sent to a queue (once for each queue reached) or to a topic (once, however many subscribe)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(broker.admin.messageTotals().enqueued);
      },
    });
    new Counter({
      name: 'ferry_messages_dequeued_total',
      help: 'Messages consumed from a queue, or by each subscriber of a topic, durable or not',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(broker.admin.messageTotals().dequeued);
      },
    });
    new Counter({
      name: 'ferry_limit_refusals_total',
      help: 'Requests refused by a configured limit (limits.*), by the limit',
      labelNames: ['limit'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [limit, n] of Object.entries(broker.limits.refusals())) this.inc({ limit }, n);
      },
    });
    const fsync = new Histogram({
      name: 'ferry_journal_fsync_seconds',
      help: 'Time one journal write took to sync to disk',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    });
    const batch = new Histogram({
      name: 'ferry_journal_batch_records',
      help: 'Records written by one group commit',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
      registers: [registry],
    });
    const store = broker.store;
    store.observe?.({ synced: (seconds) => fsync.observe(seconds), batchWritten: (records) => batch.observe(records) });
    this.detachStore = () => store.observe?.(undefined);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async scrape(): Promise<string> {
    this.rows = undefined;
    try {
      return await this.registry.metrics();
    } finally {
      this.rows = undefined;
    }
  }

  close(): void {
    this.detachStore();
  }

  /**
   * The destinations with series of their own (the first by kind and name, so that a destination
   * keeps its series while others come and go behind it), and the rest summed per kind.
   */
  private capped(): DestinationFigures[] {
    const all = this.broker.admin.destinationList();
    let kept = all;
    let rest: DestinationFigures[] = [];
    if (all.length > this.maxDestinations) {
      all.sort((a, b) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.name < b.name ? -1 : 1));
      kept = all.slice(0, this.maxDestinations);
      rest = all.slice(this.maxDestinations);
    }
    const others = new Map<'queue' | 'topic', DestinationFigures>();
    const nowOthers = new Map<string, Counted>();
    for (const d of rest) {
      const key = keyOf(d);
      const counted: Counted = { enqueued: d.enqueued, dequeued: d.dequeued, expired: d.expired, deadLettered: d.deadLettered };
      nowOthers.set(key, counted);
      // what it counted since the last scrape; all of it when it is new here and had no series of its own
      const before = this.lastOthers.get(key) ?? (this.lastKept.has(key) ? counted : undefined);
      const total = this.otherTotals.get(d.kind) ?? { enqueued: 0, dequeued: 0, expired: 0, deadLettered: 0 };
      this.otherTotals.set(d.kind, total);
      for (const figure of COUNTED) total[figure] += Math.max(0, counted[figure] - (before?.[figure] ?? 0));
      const o = others.get(d.kind);
      others.set(d.kind, {
        ...d,
        name: OTHER,
        // the summed series says that some queue among them is held, which an alert on it must not miss
        paused: (o?.paused ?? false) || d.paused,
        temporary: false,
        deadLetter: false,
        depth: (o?.depth ?? 0) + d.depth,
        inFlight: (o?.inFlight ?? 0) + d.inFlight,
        consumers: (o?.consumers ?? 0) + d.consumers,
        producers: (o?.producers ?? 0) + d.producers,
      });
    }
    this.lastOthers = nowOthers;
    this.lastKept = new Set(kept.map(keyOf));
    // a kind with nothing past the cap now keeps the _other series it had: a counter does not vanish and come back lower
    for (const [kind, total] of this.otherTotals) {
      const o = others.get(kind) ?? { kind, name: OTHER, depth: 0, loading: false, toLoad: 0, inFlight: 0, consumers: 0, producers: 0, paused: false, temporary: false, deadLetter: false, enqueued: 0, dequeued: 0, expired: 0, deadLettered: 0 };
      others.set(kind, { ...o, ...total });
    }
    return [...kept, ...others.values()];
  }
}

/** The PostgreSQL store's figures, on a broker that keeps its records there. */
function registerDatabaseMetrics(registry: Registry, status: () => DatabaseStoreStatus): void {
  new Gauge({
    name: 'ferry_postgres_records',
    help: 'Live records in the PostgreSQL store',
    registers: [registry],
    collect() {
      this.set(status().records);
    },
  });
  new Gauge({
    name: 'ferry_postgres_bytes',
    help: 'Bytes of data of the live records in the PostgreSQL store',
    registers: [registry],
    collect() {
      this.set(status().bytes);
    },
  });
  new Counter({
    name: 'ferry_postgres_failed_commits_total',
    help: 'Commits to PostgreSQL that failed (each batch is sent again)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(status().failedCommits);
    },
  });
  new Counter({
    name: 'ferry_postgres_failed_loads_total',
    help: 'Reads of waiting messages from PostgreSQL in the background that failed (each goes on after a delay)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(status().failedLoads);
    },
  });
}
