import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Broker, type Authenticator, type Authorizer, type Logger } from '../core/index.js';
import { buildSecurity } from '../security/index.js';
import { FerryError } from '../errors.js';
import type { FerryConfig } from '../config/index.js';
import { protocolModules } from '../protocols/registry.js';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { DataFolderLock, JournalStore, MemoryStore, PostgresStore, nodeFileSystem, type PostgresEvent, type Store } from '../store/index.js';
import { BackupStatusServer, HaLease, LeaseFile, PostgresLease, fencedFileSystem } from '../ha/index.js';
import { defaultPermissions, ManagementServer, type ManagementPermissions } from '../management/index.js';
import { BrokerNetwork } from '../network/index.js';
import type { StompAdapter } from '../protocols/stomp/index.js';
import { DescriptorBudget, TcpListener, TlsCertificates, WebSocketListener, detectingAdapter, descriptorLimit, openDescriptors, type ProtocolAdapter } from '../transport/index.js';

export interface RunningServer {
  readonly broker: Broker;
  /** Bound port per protocol, for listeners that are on. */
  readonly ports: Readonly<Record<string, number>>;
  /** The TLS listeners' certificate, when any is on (reloads when its files change). */
  readonly tls: TlsCertificates | undefined;
  stop(): Promise<void>;
  /**
   * Resolves if the broker stops by itself: with `ha.role: auto`, when it lost the lease (it then
   * writes nothing more, closes its listeners and resolves with the reason).
   */
  readonly fenced: Promise<string>;
  /**
   * Resolves, with the error, if the broker stopped by itself because it could not put its stored
   * messages back in their queues (logged as broker.load-failed); it has then written nothing more.
   */
  readonly loadFailed: Promise<Error>;
  /** Resolves, with the broker it went to, once this broker handed its lease over (`ha.failback` on the other) and stopped. */
  readonly handedBack: Promise<string>;
}

export interface ServerOptions {
  /** Use this store instead of the configured one (tests restart a broker on one MemoryStore). */
  readonly store?: Store;
  /** Decides who may connect, instead of what `security` configures. */
  readonly authenticator?: Authenticator;
  /** Decides what each client may do, instead of what `security.authorization` configures. */
  readonly authorizer?: Authorizer;
  /** A stop asked for during the start: it ends a backup's wait (`ha.role: auto`) or the start at its next safe point, which then fails with FERRY_BROKER_STOPPING. */
  readonly signal?: AbortSignal;
}

/** The certificate of the TLS listeners, when any is on; unreadable files are a configuration mistake. */
function loadCertificates(config: FerryConfig, logger: Logger): TlsCertificates | undefined {
  if (!Object.entries(config.listeners).some(([name, l]) => name.endsWith('Tls') && l.enabled)) return undefined;
  const { cert, key, ca, crl, requestCert, requireCert, requireCertHttps, ciphers } = config.tls;
  // checkConfig has made sure of both
  if (cert === undefined || key === undefined) throw new FerryError('FERRY_CONFIG_INVALID', 'tls.cert and tls.key are needed by the TLS listeners');
  try {
    return new TlsCertificates({ cert, key, ca, crl, requestCert, requireCert, requireCertHttps, ciphers }, logger);
  } catch (err) {
    throw new FerryError('FERRY_CONFIG_INVALID', `tls: the certificate ${cert} and key ${key}${ca === undefined ? '' : ` (ca ${ca})`}${crl === undefined ? '' : ` (crl ${crl})`} ${ciphers === undefined ? '' : ` with tls.ciphers ${ciphers}`} do not load: ${(err as Error).message}`, { cause: err });
  }
}

/** Optional keys that YAML left out are absent, not undefined, as exactOptionalPropertyTypes wants. */
function withoutUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

/** Journal events an operator must see: damage, writes or space that stop persistent sends, a catalog that could not be written. */
const JOURNAL_WARNINGS: ReadonlySet<string> = new Set([
  'journal.truncated',
  'journal.repaired',
  'journal.stalled',
  'journal.space.exhausted',
  'journal.reclaim.failed',
  'journal.compaction.failed',
  'journal.catalog.failed',
  'journal.catalog.skipped',
  'journal.segment.missing',
  'journal.manifest.unused',
]);
/** ... the ends of those spells, and how the journal opened: from its catalog or not, and with the replay an HA backup made ahead or not. */
const JOURNAL_NOTICES: ReadonlySet<string> = new Set([
  'journal.resumed',
  'journal.space.available',
  'journal.read-ahead-used',
  'journal.read-ahead-stale',
  'journal.opened-from-catalog',
  'journal.catalog.unused',
  'journal.replayed',
]);

const POSTGRES_MESSAGES: Readonly<Record<PostgresEvent['event'], string>> = {
  'postgres.failed': 'PostgreSQL did not commit a batch; it is sent again with the next',
  'postgres.recovered': 'PostgreSQL commits again',
  'postgres.load-failed': 'reading waiting messages back from PostgreSQL failed; it goes on after the last one read',
  'postgres.load-resumed': 'waiting messages read back from PostgreSQL after failures',
};

function makeStore(config: FerryConfig, logger: Logger, lease: HaLease | undefined): Store {
  if (config.store.type === 'memory') return new MemoryStore();
  if (config.store.type === 'postgres') {
    return new PostgresStore({
      url: config.store.postgres.url,
      poolSize: config.store.postgres.poolSize,
      queryTimeout: config.store.postgres.queryTimeout,
      ...(lease === undefined ? {} : { guard: () => lease.guard() }),
      onEvent: (event) => logger.warn(event, POSTGRES_MESSAGES[event.event]),
    });
  }
  const { journal } = config.store;
  return new JournalStore({
    dir: join(config.data, 'journal'),
    fileSystem: lease === undefined ? nodeFileSystem : fencedFileSystem(nodeFileSystem, () => lease.guard()),
    segmentSize: journal.segmentSize,
    syncOnWrite: journal.syncOnWrite,
    compactBelow: journal.compactBelow,
    compactInterval: journal.compactInterval,
    repair: journal.repair,
    maxSize: journal.maxSize,
    minFreeDisk: journal.minFreeDisk,
    catalogEvery: journal.catalogEvery,
    onEvent: (event) => {
      if (JOURNAL_WARNINGS.has(event.event)) logger.warn(event, event.event);
      else if (JOURNAL_NOTICES.has(event.event)) logger.info(event, event.event);
      else logger.debug(event, event.event);
    },
  });
}

/**
 * Heap a waiting persistent message takes at the peak of recovery, besides its cached body (its
 * headers and queue entry take about 540 bytes once recovered; the journal's index of it is in
 * typed arrays outside the heap): 1,000,000 messages recovered with a 600 MiB heap limit and not
 * with 520 (bench/recovery.js).
 */
const HEAP_PER_WAITING_MESSAGE = 640;

/**
 * Advice for the operator when the recovered backlog already takes a large share of Node's heap
 * limit: every waiting message keeps its headers and index in the heap (bodies are buffers outside
 * it, and only up to store.bodyCacheSize), so such a backlog will not survive growing much further.
 */
export function heapAdvice(waitingMessages: number, heapLimitBytes: number): string | undefined {
  const needed = waitingMessages * HEAP_PER_WAITING_MESSAGE;
  // room to grow: the warning must come before the restart that no longer fits
  if (needed < 0.5 * heapLimitBytes) return undefined;
  const mib = (n: number): number => Math.ceil(n / 1024 / 1024);
  return (
    `${waitingMessages} waiting messages need about ${mib(needed)} MiB of heap to recover, and Node's heap limit is ${mib(heapLimitBytes)} MiB: ` +
    `start with NODE_OPTIONS=--max-old-space-size=${Math.max(mib(needed) * 3, 1024)} (MiB) to give the backlog room`
  );
}

function warnIfHeapIsShort(broker: Broker, logger: Logger): void {
  const stats = broker.stats();
  let waiting = 0;
  for (const q of stats.queues) waiting += q.pending + q.inFlight;
  for (const d of stats.durableSubscriptions) waiting += d.pending + d.inFlight;
  const limit = getHeapStatistics().heap_size_limit;
  const advice = heapAdvice(waiting, limit);
  if (advice !== undefined) logger.warn({ event: 'broker.heap-short', waiting, heapLimitBytes: limit }, advice);
}

/** The web console's files, built next to the compiled code (dist/console). */
const CONSOLE_DIRECTORY = fileURLToPath(new URL('../../console/', import.meta.url));

/** Ferry's version, from its package.json. */
const FERRY_VERSION = ((): string => {
  try {
    return (JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/** `management.monitor` / `manage` as configured, or their defaults: everyone without destination rights, admins (and monitors) with them. */
function managementPermissions(config: FerryConfig, ownAuthorizer: boolean): ManagementPermissions {
  const defaults = defaultPermissions(ownAuthorizer || config.security.authorization !== undefined);
  return { monitor: config.management.monitor ?? defaults.monitor, manage: config.management.manage ?? defaults.manage };
}

/** Builds the broker and its listeners from a configuration and starts them. */
export async function startServer(config: FerryConfig, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  // a stop asked for during the start is answered where it leaves nothing half done: here, once the
  // data folder is locked, and once the store is open; never in the middle of reading the store
  const stopAsked = (where: string): FerryError | undefined => (options.signal?.aborted === true ? new FerryError('FERRY_BROKER_STOPPING', where) : undefined);
  const before = stopAsked('before opening the data folder');
  if (before !== undefined) throw before;
  // before the data folder is locked: a mistake in the certificate or the users file stops the start with nothing to undo
  const certificates = loadCertificates(config, logger);
  let security: ReturnType<typeof buildSecurity> | undefined;
  try {
    security = options.authenticator === undefined ? buildSecurity(config.security, logger) : undefined;
  } catch (err) {
    certificates?.close();
    throw err;
  }
  try {
    mkdirSync(config.data, { recursive: true });
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'EEXIST' ? 'it is a file, not a folder' : (err as Error).message;
    throw new FerryError('FERRY_STORE_FAILED', `cannot use ${config.data} as the data folder: ${reason}; give another with --data`, { cause: err });
  }
  // with a shared folder (or database) the lease is the lock: the other broker may be alive on another host
  const lease =
    config.ha.role === 'auto'
      ? new HaLease({
          store: config.store.type === 'postgres' ? new PostgresLease(config.store.postgres.url, config.ha.leaseDuration / 3) : new LeaseFile(config.data),
          leaseDuration: config.ha.leaseDuration,
          failback: config.ha.failback,
          logger,
        })
      : undefined;
  // made before the lease is taken: a backup reads the store ahead once the holder misses a renewal
  const store = options.store ?? makeStore(config, logger, lease);
  const broker = new Broker({
    store,
    name: config.broker.name,
    autoCreateDestinations: config.broker.autoCreateDestinations,
    defaultPrefetch: config.stomp.defaultPrefetch,
    policies: config.destinations.policies.map(withoutUndefined),
    composites: config.destinations.composites.map((c) => ({
      kind: c.kind,
      name: c.name,
      forwardOnly: c.forwardOnly,
      forwardTo: c.forwardTo.map((to) => ({ kind: to.startsWith('topic://') ? 'topic' : 'queue', name: to.slice(8) }) as const),
    })),
    virtualTopics: config.destinations.virtualTopics,
    expirySweepInterval: config.destinations.expirySweepInterval,
    idleTopicTimeout: config.destinations.idleTopicTimeout,
    bodyCacheSize: config.store.bodyCacheSize,
    confirmConsumed: config.store.confirmConsumed,
    loadInBackgroundAbove: config.store.loadInBackgroundAbove,
    stopTimeout: config.transport.stopTimeout,
    limits: withoutUndefined(config.limits),
    authenticator: options.authenticator ?? security!.authenticator,
    ...((options.authorizer ?? security?.authorizer) === undefined ? {} : { authorizer: (options.authorizer ?? security?.authorizer)! }),
    logger,
    // the store refuses a fenced broker's writes; this keeps it from handing out what it holds in memory
    ...(lease === undefined ? {} : { guard: () => lease.guard() }),
  });
  let lock: { release(): void };
  // what the lease's renewal calls, bound once the broker runs; until then it is noted
  let onLeaseLost: ((reason: string) => void) | undefined;
  let onHandback: ((asker: string) => void) | undefined;
  let lostEarly: string | undefined;
  let askedEarly: string | undefined;
  try {
    if (lease === undefined) lock = DataFolderLock.acquire(config.data);
    else {
      // a broker started without --ha on this folder does not look at the lease: its lock keeps this one out
      DataFolderLock.refuseIfHeld(config.data, 'ha');
      await waitAsBackup(lease, config, logger, options.signal, (overdue) => broker.readAhead(overdue));
      let folderLock: DataFolderLock;
      try {
        // one started in the meantime, while this one waited as the backup
        folderLock = DataFolderLock.acquire(config.data, 'ha');
      } catch (err) {
        await lease.release();
        throw err;
      }
      lock = {
        release: () => {
          folderLock.release();
          void lease.release();
        },
      };
      // renewed from the moment it is taken: recovering a large backlog takes longer than a lease
      lease.startRenewing(
        (reason) => (onLeaseLost === undefined ? (lostEarly = reason) : onLeaseLost(reason)),
        (asker) => (onHandback === undefined ? (askedEarly = asker) : onHandback(asker)),
      );
    }
  } catch (err) {
    broker.readAhead(false);
    security?.close();
    certificates?.close();
    throw err;
  }
  security?.attach(broker);
  try {
    const beforeStore = stopAsked('before opening the store');
    if (beforeStore !== undefined) throw beforeStore;
    await broker.start();
    const beforeListeners = stopAsked('the store opened and closed again, before any listener opened');
    // closing writes what recovery left pending (a queue's delivery mark, a background load's discards) as a normal stop does
    if (beforeListeners !== undefined) await broker.stop().then(() => Promise.reject(beforeListeners));
    await lease?.renewNow();
  } catch (err) {
    lock.release();
    security?.close();
    certificates?.close();
    throw err;
  }
  warnIfHeapIsShort(broker, logger);

  const adapters: { adapter: ProtocolAdapter; listener: FerryConfig['listeners']['http']; tlsListener: FerryConfig['listeners']['http'] }[] = protocolModules.map((m) => ({
    // each module's section of the configuration is its own options
    adapter: (m.createAdapter as (options: unknown, logger: Logger) => ProtocolAdapter)(config[m.name], logger),
    listener: config.listeners[m.name],
    tlsListener: config.listeners[`${m.name}Tls`],
  }));
  for (const { adapter } of adapters) adapter.started?.(broker);
  const stompAdapter = adapters.find((a) => a.adapter.name === 'stomp')?.adapter as StompAdapter | undefined;
  // a protocol that is a guest on another's listeners gets the clients whose first bytes name it; the host keeps the rest
  protocolModules.forEach((m, i) => {
    const guest = (m.guestOf as ((options: unknown) => { protocol: string; detectTimeout: number } | undefined) | undefined)?.(config[m.name]);
    const host = guest === undefined ? undefined : adapters.find((a) => a.adapter.name === guest.protocol);
    if (guest === undefined || host === undefined) return;
    host.adapter = { ...detectingAdapter(host.adapter.name, [adapters[i]!.adapter], guest.detectTimeout, logger, host.adapter), webSocketProtocols: host.adapter.webSocketProtocols, webSocketPingInterval: host.adapter.webSocketPingInterval };
  });
  // a port that serves every protocol hands each client to the one its first bytes name
  protocolModules.forEach((m, i) => {
    const shared = (m.sharedPort as ((options: unknown) => { detectTimeout: number } | undefined) | undefined)?.(config[m.name]);
    if (shared === undefined) return;
    const own = adapters[i]!.adapter;
    adapters[i]!.adapter = detectingAdapter(own.name, [own, ...adapters.filter((_, j) => j !== i).map((a) => a.adapter)], shared.detectTimeout, logger);
  });
  const network = new BrokerNetwork(config.network.connectors, broker, logger, config.stomp);
  // a neighbour's duplex link arrives on a STOMP listener, which hands it to the network
  if (stompAdapter !== undefined) stompAdapter.duplexLinks.acceptor = network;
  // what the broker has open once its store is, so the reserve is what it may open later
  const descriptors = new DescriptorBudget(descriptorLimit(logger), openDescriptors(), config.transport.descriptorReserve, logger);
  const listeners: { close(): Promise<void>; stopReading?(): void; dropConnections?(): void }[] = [];
  const ports: Record<string, number> = {};
  const listenerViews: { name: string; host: string; port: number; tls: boolean }[] = [];
  const ready = (name: string, host: string, port: number, text: string, extra: Record<string, unknown> = {}): void => {
    ports[name] = port;
    listenerViews.push({ name, host, port, tls: /tls/i.test(name) });
    logger.info({ event: 'listener.ready', protocol: name, host, port, ...extra }, text);
  };
  try {
    for (const { adapter, listener, tlsListener } of adapters) {
      for (const [on, tls] of [[listener, undefined], [tlsListener, certificates]] as const) {
        if (!on.enabled) continue;
        const tcp = new TcpListener(adapter, broker, { host: on.host, port: on.port, maxConnections: on.maxConnections, writeHighWaterMark: config.transport.writeHighWaterMark, maxPendingBytes: config.transport.maxPendingBytes, handshakeTimeout: config.transport.handshakeTimeout, tls, descriptors }, logger);
        const port = await tcp.listen();
        listeners.push(tcp);
        ready(tcp.name, on.host, port, `${tcp.name} listening on ${on.host}:${port}`);
      }
    }
    const webSocketAdapters = adapters.map((a) => a.adapter).filter((a) => a.webSocketProtocols.length > 0);
    for (const [websocket, tls] of [[config.listeners.websocket, undefined], [config.listeners.websocketTls, certificates]] as const) {
      if (!websocket.enabled || webSocketAdapters.length === 0) continue;
      const ws = new WebSocketListener(
        webSocketAdapters,
        broker,
        { host: websocket.host, port: websocket.port, maxConnections: websocket.maxConnections, writeHighWaterMark: config.transport.writeHighWaterMark, maxPendingBytes: config.transport.maxPendingBytes, ...config.websocket, tls, descriptors },
        logger,
      );
      const port = await ws.listen();
      listeners.push(ws);
      ready(ws.name, websocket.host, port, `WebSocket${tls === undefined ? '' : ' (wss)'} listening on ${websocket.host}:${port} (${ws.subprotocols.join(', ')})`, { subprotocols: ws.subprotocols });
    }
    for (const [http, tls] of [[config.listeners.http, undefined], [config.listeners.httpTls, certificates]] as const) {
      if (!http.enabled) continue;
      const management = new ManagementServer(
        broker,
        {
          host: http.host,
          port: http.port,
          authenticator: options.authenticator ?? security?.authenticator,
          authorizer: options.authorizer ?? security?.authorizer,
          tls,
          permissions: managementPermissions(config, options.authorizer !== undefined),
          consoleDirectory: CONSOLE_DIRECTORY,
          version: FERRY_VERSION,
          storeDirectory: config.data,
          ha: () => (lease === undefined ? { role: 'standalone', leaseAgeMs: null } : { role: lease.role, leaseAgeMs: lease.renewedAgo ?? null }),
          listeners: () => listenerViews.slice(),
          maxMetricDestinations: config.metrics.maxDestinations,
          network: () => network.stats(),
          protocols: protocolModules.map((m) => m.name),
          ...config.http,
          ...(http.maxConnections > 0 ? { maxConnections: http.maxConnections } : {}),
        },
        logger,
      );
      const port = await management.listen();
      listeners.push(management);
      ready(management.name, http.host, port, `management API (${tls === undefined ? 'http' : 'https'}) listening on ${http.host}:${port}`);
    }
    // after the listeners: a neighbour's connector may link here as soon as this one links there
    await network.start();
  } catch (err) {
    network.stop();
    await Promise.all(listeners.map((l) => l.close()));
    for (const { adapter } of adapters) adapter.close();
    await broker.stop();
    lock.release();
    security?.close();
    certificates?.close();
    throw err;
  }

  let stopping: Promise<void> | undefined;
  let fencedWith: (reason: string) => void = () => {};
  const fenced = new Promise<string>((resolve) => (fencedWith = resolve));
  let loadFailedWith: (err: Error) => void = () => {};
  const loadFailed = new Promise<Error>((resolve) => (loadFailedWith = resolve));
  let handedBackTo: (to: string) => void = () => {};
  const handedBack = new Promise<string>((resolve) => (handedBackTo = resolve));
  let handbackTo: string | undefined;
  const closeAll = async (graceful: boolean): Promise<void> => {
    // the connections close before the broker stops: what their consumers held comes back as no failure of theirs
    broker.stopBegins();
    // before any connection closes, so that every protocol's subscribers hear it and the store keeps it
    if (graceful) await atMost(Promise.all(adapters.map(({ adapter }) => adapter.publishOnStop?.())), config.transport.stopTimeout);
    for (const { adapter } of adapters) adapter.stopping?.();
    await Promise.all(listeners.map((l) => l.close()));
    for (const { adapter } of adapters) adapter.close();
    await broker.stop().catch((err: unknown) => {
      // a fenced broker's last writes are refused on purpose
      if (lease?.role !== 'fenced') throw err;
    });
    // the store is closed: its last group commit is on disk before the lease goes to the asker
    if (lease !== undefined) await lease.release(handbackTo);
    else lock.release();
    security?.close();
    certificates?.close();
    logger.info({ event: 'broker.stopped' }, 'broker stopped');
  };
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      network.stop();
      // what clients send from here on is not taken, and what was taken is acknowledged before
      // connections close: a client that hears nothing resends, and a resend is a duplicate
      for (const listener of listeners) listener.stopReading?.();
      await acknowledgementsWritten(broker, config.transport.stopTimeout);
      await closeAll(true);
    })();
    return stopping;
  };
  // a broker that lost its lease has nothing left to acknowledge (its writes are refused) and must
  // serve no client: one held open would take messages that are on no disk, and its sender, never
  // acknowledged, sends them again to the broker that took over, which delivers them as new
  const stopAtOnce = (): Promise<void> => {
    network.stop(true);
    for (const listener of listeners) listener.dropConnections?.();
    stopping ??= closeAll(false);
    return stopping;
  };
  onLeaseLost = (reason) => {
    void stopAtOnce().finally(() => fencedWith(reason));
  };
  onHandback = (asker) => {
    handbackTo = asker;
    void stop().then(
      () => handedBackTo(asker),
      (err: unknown) => {
        logger.error({ event: 'ha.handback-failed', err }, 'stopping to hand the lease over failed');
        fencedWith(`stopping to hand the lease to ${asker} failed`);
      },
    );
  };
  // a record that cannot be put back leaves its queue incomplete: the broker stops rather than serve it so
  broker.loaded.catch((err: unknown) => {
    logger.error({ event: 'broker.load-failed', err }, 'putting stored messages back in their queues failed');
    void stop().finally(() => loadFailedWith(err instanceof Error ? err : new Error(String(err))));
  });
  if (lostEarly !== undefined) onLeaseLost(lostEarly);
  else if (askedEarly !== undefined) onHandback(askedEarly);
  return { broker, ports, tls: certificates, stop, fenced, loadFailed, handedBack };
}

/**
 * With `ha.role: auto`: takes the folder's lease, or waits as a backup until it can, answering on
 * the management port meanwhile that this broker is a backup.
 */
async function waitAsBackup(lease: HaLease, config: FerryConfig, logger: Logger, signal: AbortSignal | undefined, onOverdue: (overdue: boolean) => void): Promise<void> {
  const http = config.listeners.http;
  const status = http.enabled ? new BackupStatusServer(http.host, http.port) : undefined;
  let listening: Promise<number> | undefined;
  // a status port that cannot listen (another program holds it) ends the wait with that error, as a primary's listener would
  let refused: { readonly err: unknown } | undefined;
  const stop = new AbortController();
  try {
    await lease.acquire(signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal]), (holder) => {
      if (status === undefined) return;
      status.waitingFor(holder);
      // called again when the holder changes: the port is open already
      listening ??= status.listen().then(
        (port) => {
          logger.info({ event: 'ha.status-ready', host: http.host, port }, `backup status on ${http.host}:${port} (HTTP 503 until this broker takes over)`);
          return port;
        },
        (err: unknown) => {
          refused = { err };
          stop.abort();
          return 0;
        },
      );
    }, onOverdue);
  } catch (err) {
    throw refused === undefined ? err : refused.err;
  } finally {
    if (listening !== undefined) await listening.catch(() => undefined);
    await status?.close();
  }
}

/**
 * Resolves once what the store has been given is on disk and the acknowledgements that waited for
 * it (STOMP receipts, MQTT PUBACK, PUBREC and PUBCOMP, AMQP dispositions, confirms, OpenWire
 * responses) are written, or after `ms` when the store does not write.
 */
async function acknowledgementsWritten(broker: Broker, ms: number): Promise<void> {
  await atMost(broker.synced(), ms);
  // the writes hang on the sync's promise chains, which have all run by the next turn
  await new Promise((resolve) => setImmediate(resolve));
}

/** Resolves when `work` settles, or after `ms`: a stop that waits on a store that does not write still ends. */
async function atMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([work.catch(() => {}), late]);
  clearTimeout(timer);
}
