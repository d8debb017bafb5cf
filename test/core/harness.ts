/**
 * The core conformance suite's one way in: everything that builds a broker, connects, subscribes,
 * browses and restarts is here, so a change to the core API between protocol sessions and the
 * broker touches this file only. The suites speak in destinations, bodies and deliveries.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Broker, type BindingSpec, type BrokerOptions, type ConsumerHandle, type ExchangeSpec, type ExchangeType, type PublishInit, type PublishResult, type QueueDeclared, type QueueSpec, type CoreConnection, type CoreSession, type Delivery, type DeliverySink, type Destination, type MessageInit, type SendOptions, type SubscribeOptions } from '../../src/core/index.js';
import { JournalStore, MemoryStore, type Store } from '../../src/store/index.js';

export const queue = (name: string): Destination => ({ kind: 'queue', name });
export const topic = (name: string): Destination => ({ kind: 'topic', name });

/** Stores of the brokers under test, whose syncs `settle` waits for. */
const openStores = new Set<Store>();

/**
 * Lets queued microtasks and immediates run, and the stores' writes be synced: core dispatches
 * synchronously or in a microtask, but a journal's persistent messages go out only once the
 * delivery mark that covers them is synced.
 */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    await Promise.all([...openStores].map((store) => store.sync().catch(() => undefined)));
  }
}

/**
 * A sink that records every delivery. It can be made unwritable (core must then stop and ask to be
 * told through `onWritable`) and given a finite credit (core must stop at zero; more credit is
 * announced through the consumer's `wake`, as AMQP flow does).
 */
export class RecordingSink implements DeliverySink {
  readonly deliveries: Delivery[] = [];
  /** Deliveries made while the sink said it could take none: each one is a breach of the contract. */
  readonly breaches: string[] = [];
  browseEnds = 0;
  private writable = true;
  /** Undefined: no protocol credit, only the prefetch limits. */
  private credit: number | undefined;
  private resumers: (() => void)[] = [];

  deliver(delivery: Delivery): void {
    if (!this.writable) this.breaches.push(`delivered ${delivery.message.body.toString()} while not writable`);
    if (this.credit !== undefined) {
      if (this.credit <= 0) this.breaches.push(`delivered ${delivery.message.body.toString()} without credit`);
      this.credit--;
    }
    // core hands over its queue entry itself, whose count moves on: keep this delivery as it was
    this.deliveries.push({
      message: delivery.message,
      tag: delivery.tag,
      deliveryCount: delivery.deliveryCount,
      redelivered: delivery.redelivered,
      retained: delivery.retained === true,
    });
  }

  isWritable(): boolean {
    return this.writable;
  }

  onWritable(resume: () => void): void {
    this.resumers.push(resume);
  }

  hasCredit(): boolean {
    return this.credit === undefined || this.credit > 0;
  }

  browseEnd(): void {
    this.browseEnds++;
  }

  /** Why the broker cancelled the consumer (its queue was deleted), once per cancel. */
  readonly cancels: string[] = [];

  cancelled(reason: string): void {
    this.cancels.push(reason);
  }

  /** The socket is full from now on. */
  block(): void {
    this.writable = false;
  }

  /** The socket drained: core is told, as a transport would tell it. */
  unblock(): void {
    this.writable = true;
    const resumers = this.resumers;
    this.resumers = [];
    for (const resume of resumers) resume();
  }

  get waitingForWritable(): number {
    return this.resumers.length;
  }

  setCredit(credit: number | undefined): void {
    this.credit = credit;
  }

  addCredit(n: number): void {
    this.credit = (this.credit ?? 0) + n;
  }

  bodies(): string[] {
    return this.deliveries.map((d) => d.message.body.toString());
  }
}

/** A consumer as a test holds it: its handle and its recording sink, with settlement by body. */
export class Subscriber {
  constructor(
    readonly handle: ConsumerHandle,
    readonly sink: RecordingSink,
  ) {}

  get deliveries(): Delivery[] {
    return this.sink.deliveries;
  }

  bodies(): string[] {
    return this.sink.bodies();
  }

  /** The latest delivery of the message with this body. */
  delivery(body: string): Delivery {
    for (let i = this.sink.deliveries.length - 1; i >= 0; i--) {
      const d = this.sink.deliveries[i]!;
      if (d.message.body.toString() === body) return d;
    }
    throw new Error(`no delivery of "${body}"; got ${JSON.stringify(this.bodies())}`);
  }

  ack(body: string, txId?: string): void {
    this.handle.acknowledge(this.delivery(body).tag, txId);
  }

  reject(body: string, txId?: string): void {
    this.handle.reject(this.delivery(body).tag, txId);
  }

  redeliver(body: string): void {
    this.handle.redeliver(this.delivery(body).tag);
  }

  refuse(body: string, counted = false): void {
    this.handle.refuse(this.delivery(body).tag, counted);
  }

  release(body: string): void {
    this.handle.release(this.delivery(body).tag);
  }

  /** More protocol credit, announced to core as an AMQP flow frame would be. */
  grant(n: number): void {
    this.sink.addCredit(n);
    this.handle.wake();
  }

  close(): void {
    this.handle.close();
  }
}

export interface SubscribeSpec extends Omit<SubscribeOptions, 'sink' | 'destination' | 'durable' | 'browse'> {
  /** Start with this much protocol credit (default: none, only the prefetch limits). */
  readonly credit?: number;
  /** Start unwritable. */
  readonly blocked?: boolean;
}

export interface SendSpec extends Omit<MessageInit, 'destination' | 'body' | 'properties'> {
  readonly properties?: Record<string, string | number | boolean | bigint | null>;
  readonly txId?: string;
  readonly options?: SendOptions;
}

/** One client connection with one session, as a protocol adapter would hold it. */
export class Client {
  readonly session: CoreSession;

  constructor(readonly connection: CoreConnection) {
    this.session = connection.createSession();
  }

  get id(): string {
    return this.connection.id;
  }

  send(destination: Destination, body: string, spec: SendSpec = {}): Promise<void> | null {
    const { properties, txId, options, ...init } = spec;
    const message: MessageInit = { destination, body: Buffer.from(body), ...init };
    if (properties !== undefined) message.properties = new Map(Object.entries(properties));
    return this.session.send(message, txId, options);
  }

  /** Publishes to an exchange (`''`: the default exchange) with a routing key. */
  publish(exchange: string, routingKey: string, body: string, spec: SendSpec & { readonly mandatory?: boolean } = {}): PublishResult {
    const { properties, txId, options: _options, mandatory, ...init } = spec;
    const message: PublishInit = { body: Buffer.from(body), ...init };
    if (properties !== undefined) message.properties = new Map(Object.entries(properties));
    return this.session.publish(exchange, routingKey, message, txId, mandatory === undefined ? undefined : { mandatory });
  }

  /** Declares a queue with RabbitMQ's defaults unless `spec` says otherwise: durable, not exclusive, not auto-delete, no arguments. */
  declareQueue(name: string, spec: Partial<QueueSpec> = {}): QueueDeclared {
    return this.connection.declareQueue({ name, durable: true, exclusive: false, autoDelete: false, arguments: {}, ...spec });
  }

  declareExchange(name: string, type: ExchangeType, spec: Partial<ExchangeSpec> = {}): void {
    this.connection.declareExchange({ name, type, durable: true, autoDelete: false, internal: false, ...spec });
  }

  bind(source: string, queueName: string, routingKey: string, headers?: BindingSpec['headers']): void {
    this.connection.bind({ source, destination: { kind: 'queue', name: queueName }, routingKey, ...(headers === undefined ? {} : { headers }) });
  }

  /** Sends each body in turn, non-persistent unless `spec` says otherwise. */
  sendAll(destination: Destination, bodies: readonly string[], spec: SendSpec = {}): void {
    for (const body of bodies) void this.send(destination, body, spec);
  }

  subscribe(destination: Destination, spec: SubscribeSpec = {}): Subscriber {
    const { credit, blocked, ...options } = spec;
    const sink = new RecordingSink();
    if (credit !== undefined) sink.setCredit(credit);
    if (blocked === true) sink.block();
    return new Subscriber(this.session.subscribe({ ...options, destination, sink }), sink);
  }

  /** A durable subscription named `name`, owned by this connection's client id. */
  subscribeDurable(destination: Destination, name: string, spec: SubscribeSpec = {}): Subscriber {
    const { credit, blocked, ...options } = spec;
    const sink = new RecordingSink();
    if (credit !== undefined) sink.setCredit(credit);
    if (blocked === true) sink.block();
    return new Subscriber(this.session.subscribe({ ...options, destination, sink, durable: { name } }), sink);
  }

  /** Removes this client id's durable subscription `name` and what it kept. */
  unsubscribeDurable(name: string): void {
    this.connection.deleteDurableSubscription(name);
  }

  durableSubscriptions(): { name: string; topic: string; selector: string | undefined; active: boolean }[] {
    return this.connection.durableSubscriptions().map(({ name, topic, selector, active }) => ({ name, topic, selector, active }));
  }

  /** Opens a browser on a queue; it hands each waiting message once to `sink` and ends with `browseEnd`. */
  openBrowser(destination: Destination, sink: RecordingSink, selector?: string): ConsumerHandle {
    return this.session.subscribe({ destination, sink, browse: true, ...(selector === undefined ? {} : { selector }) });
  }

  /** Browses a queue to its end and returns the bodies seen. */
  async browse(destination: Destination, selector?: string): Promise<string[]> {
    const sink = new RecordingSink();
    const browser = this.openBrowser(destination, sink, selector);
    await settle();
    if (sink.browseEnds !== 1) throw new Error(`the browser of ${destination.name} did not end (${sink.browseEnds} ends)`);
    browser.close();
    return sink.bodies();
  }

  begin(txId: string): void {
    this.connection.begin(txId);
  }

  commit(txId: string): Promise<void> | null {
    return this.connection.commit(txId);
  }

  rollback(txId: string): void {
    this.connection.rollback(txId);
  }

  temporaryQueue(): Destination {
    return this.connection.createTemporaryDestination('queue');
  }

  temporaryTopic(): Destination {
    return this.connection.createTemporaryDestination('topic');
  }

  close(): void {
    this.connection.close();
  }
}

/**
 * A clock the test moves by hand. Core reads time from the broker's injected clock, but its one
 * timer (`TimerQueue`) waits with `setTimeout` for `due - clock()`; so the test's `setTimeout` is
 * node:test's mock, moved by the same amount, and nothing waits for wall time.
 */
export class ManualClock {
  now = Date.UTC(2026, 0, 5, 9, 0, 0);

  constructor(private readonly t: TestContext) {
    t.mock.timers.enable({ apis: ['setTimeout'] });
  }

  readonly read = (): number => this.now;

  /** Moves time on by `ms`, running every timer that comes due on the way, then lets dispatch settle. */
  async advance(ms: number): Promise<void> {
    // in steps, so a timer armed by another one's callback fires at its own time
    const step = 100;
    for (let done = 0; done < ms; ) {
      const n = Math.min(step, ms - done);
      this.now += n;
      this.t.mock.timers.tick(n);
      done += n;
    }
    await settle();
  }
}

/** 'journal-without-catalog': a journal that keeps no catalog, so a restart replays it whole before serving. */
export type StoreKind = 'memory' | 'journal' | 'journal-without-catalog';

export interface BrokerSpec extends Omit<BrokerOptions, 'store' | 'clock'> {
  /** Drive time by hand (see ManualClock). */
  readonly manualClock?: boolean;
  readonly storeKind?: StoreKind;
}

/** A broker under test; `restart` stops it and starts another on the same store, as a process restart would. */
export class TestBroker {
  private constructor(
    readonly t: TestContext,
    private readonly cleanups: (() => Promise<void>)[],
    readonly broker: Broker,
    readonly store: Store,
    private readonly spec: BrokerSpec,
    private readonly openStore: () => Store,
    readonly clock: ManualClock | undefined,
  ) {}

  static async start(t: TestContext, spec: BrokerSpec = {}): Promise<TestBroker> {
    // run last-registered first: every broker stops before its folder goes
    const cleanups: (() => Promise<void>)[] = [];
    t.after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });
    let openStore: () => Store;
    if (spec.storeKind === 'journal' || spec.storeKind === 'journal-without-catalog') {
      const dir = await mkdtemp(join(tmpdir(), 'ferry-core-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const catalogEvery = spec.storeKind === 'journal' ? {} : { catalogEvery: 0 };
      openStore = () => new JournalStore({ dir, compactInterval: 0, ...catalogEvery });
    } else {
      const store = new MemoryStore();
      openStore = () => store;
    }
    const clock = spec.manualClock === true ? new ManualClock(t) : undefined;
    return TestBroker.open(t, cleanups, spec, openStore, clock);
  }

  private static async open(t: TestContext, cleanups: (() => Promise<void>)[], spec: BrokerSpec, openStore: () => Store, clock: ManualClock | undefined): Promise<TestBroker> {
    const { manualClock: _manual, storeKind: _kind, ...options } = spec;
    const store = openStore();
    const broker = new Broker({ ...options, store, ...(clock === undefined ? {} : { clock: clock.read }) });
    await broker.start();
    openStores.add(store);
    cleanups.push(async () => {
      openStores.delete(store);
      await broker.stop();
    });
    return new TestBroker(t, cleanups, broker, store, spec, openStore, clock);
  }

  async connect(clientId?: string): Promise<Client> {
    const connection = await this.broker.connect({ protocol: 'core-test', transport: { remoteAddress: 'test' }, ...(clientId === undefined ? {} : { clientId }) });
    return new Client(connection);
  }

  async restart(): Promise<TestBroker> {
    openStores.delete(this.store);
    await this.broker.stop();
    return TestBroker.open(this.t, this.cleanups, this.spec, this.openStore, this.clock);
  }

  queueStats(name: string): { pending: number; inFlight: number; delayed: number; expired: number; deadLettered: number; discarded: number; consumers: number } {
    const stats = this.broker.stats().queues.find((q) => q.name === name);
    if (stats === undefined) throw new Error(`no queue "${name}"`);
    return stats;
  }

  hasQueue(name: string): boolean {
    return this.broker.stats().queues.some((q) => q.name === name);
  }

  get scheduledCount(): number {
    return this.broker.stats().scheduled;
  }
}

/** Starts a broker for one test; it stops when the test ends. */
export function startBroker(t: TestContext, spec: BrokerSpec = {}): Promise<TestBroker> {
  return TestBroker.start(t, spec);
}

/** Drains a queue through a fresh auto-acknowledging consumer and returns what it held. */
export async function drain(client: Client, destination: Destination): Promise<Delivery[]> {
  const subscriber = client.subscribe(destination);
  await settle();
  subscriber.close();
  return subscriber.deliveries;
}
