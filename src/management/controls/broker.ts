import type { Broker } from '../../core/index.js';

/** A listener as operators see it. */
export interface ListenerView {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

/**
 * The broker's part in high availability: `standalone` without `ha.role: auto`, else the lease's
 * role (a backup's management port answers 503 until it takes over, so a running view is mostly
 * `primary`; `fenced` or `stopped` while a broker that lost or released its lease stops).
 */
export interface HaView {
  readonly role: 'standalone' | 'primary' | 'backup' | 'fenced' | 'stopped';
  /** While primary, ms since its last successful lease renewal began; otherwise null. */
  readonly leaseAgeMs: number | null;
}

const STANDALONE: HaView = { role: 'standalone', leaseAgeMs: null };

/** What the broker view needs besides the broker: facts the server that runs it knows. */
export interface BrokerFacts {
  readonly version: string;
  /** ms since the epoch. */
  readonly startedAt: number;
  /** The data folder, for a store that keeps files. */
  readonly storeDirectory: string | undefined;
  listeners(): readonly ListenerView[];
  readonly clock: () => number;
  ha?(): HaView;
}

export function haView(facts: { ha?(): HaView }): HaView {
  return facts.ha?.() ?? STANDALONE;
}

/** GET /api/v1/broker: the broker at a glance. */
export function brokerView(broker: Broker, facts: BrokerFacts): Record<string, unknown> {
  const admin = broker.admin;
  const byProtocol = admin.connectionsByProtocol();
  const memory = process.memoryUsage();
  return {
    name: broker.name,
    version: facts.version,
    startedAt: new Date(facts.startedAt).toISOString(),
    uptimeSeconds: Math.max(0, Math.floor((facts.clock() - facts.startedAt) / 1000)),
    listeners: facts.listeners(),
    store: storeView(broker, facts),
    memory: { rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external },
    bodyCache: admin.bodyCache(),
    connections: { total: Object.values(byProtocol).reduce((a, b) => a + b, 0), byProtocol },
    destinations: admin.destinationCounts(),
    messages: admin.messageTotals(),
    ha: haJson(haView(facts)),
  };
}

function haJson(ha: HaView): Record<string, unknown> {
  return { role: ha.role, leaseAgeSeconds: ha.leaseAgeMs === null ? null : Math.round(ha.leaseAgeMs) / 1000 };
}

function storeView(broker: Broker, facts: BrokerFacts): Record<string, unknown> {
  const database = broker.store.databaseStatus?.();
  if (database !== undefined) {
    const { type, bytes, records, failing } = database;
    return { type, bytes, files: 0, directory: null, records, failing };
  }
  const description = broker.store.describe?.();
  return {
    type: description === undefined ? 'memory' : 'journal',
    bytes: description?.diskBytes ?? broker.store.stats().bytes,
    files: description?.segments.length ?? 0,
    directory: description === undefined ? null : (facts.storeDirectory ?? null),
  };
}
