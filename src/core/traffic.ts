import type { Destination } from './message.js';

/** Seconds a rate is measured over. */
const RATE_WINDOW_SECONDS = 10;

/**
 * A running count with its rate over the last RATE_WINDOW_SECONDS: a ring of per-second counts,
 * moved on by the clock as counts arrive or the rate is read, so nothing runs between messages.
 * The clock is read once per `batch` counts (and on each read of the rate), not once per message:
 * a batch is put in the second it completes in, which moves at most `batch` counts by a second.
 */
export class RateCounter {
  total = 0;
  /** Made on the first count: most connections of a big fleet are idle, and each has two counters. */
  private ring: Float64Array | undefined;
  private second = 0;
  /** Counted since the clock was last read. */
  private unplaced = 0;

  constructor(
    private readonly clock: () => number,
    private readonly batch = 64,
  ) {}

  count(n = 1): void {
    this.total += n;
    this.unplaced += n;
    if (this.unplaced >= this.batch) this.place();
  }

  /** Per second, averaged over the window (the current second included). */
  rate(): number {
    this.place();
    if (this.ring === undefined) return 0;
    let sum = 0;
    for (const n of this.ring) sum += n;
    return sum / RATE_WINDOW_SECONDS;
  }

  private place(): void {
    if (this.ring === undefined) {
      if (this.unplaced === 0) return;
      this.ring = new Float64Array(RATE_WINDOW_SECONDS);
    }
    const second = Math.floor(this.clock() / 1000);
    if (second !== this.second) this.advance(this.ring, second);
    this.ring[second % RATE_WINDOW_SECONDS]! += this.unplaced;
    this.unplaced = 0;
  }

  private advance(ring: Float64Array, second: number): void {
    if (second <= this.second) return;
    // the seconds passed since the last count held none
    const gap = Math.min(second - this.second, RATE_WINDOW_SECONDS);
    for (let i = 1; i <= gap; i++) ring[(this.second + i) % RATE_WINDOW_SECONDS] = 0;
    this.second = second;
  }
}

/**
 * Destinations one connection keeps its sends to, of both kinds together: past it, a quarter of
 * them, those it sent to least lately, are forgotten. An anonymous producer (a server replying to
 * each request's reply-to) may reach any number of destinations that outlive nothing it sends.
 */
export const SENT_DESTINATIONS_KEPT = 100;

/** A connection's sends to one destination. */
export interface ProducerTraffic {
  sent: number;
  readonly rate: RateCounter;
  /** When the connection last turned to this destination, in its own turns: the least lately used go first. */
  used: number;
}

/**
 * Which connections' traffic has sends to each destination, so that a deleted destination's entries
 * go with it: a temporary reply queue per request would otherwise leave one entry per request on
 * the connection that answers, for as long as that connection lives.
 */
export class DestinationSenders {
  /** `kind:name` -> the one sender, or the senders. */
  private readonly byKey = new Map<string, ConnectionTraffic | Set<ConnectionTraffic>>();

  /** @internal for ConnectionTraffic */
  add(key: string, traffic: ConnectionTraffic): void {
    const held = this.byKey.get(key);
    if (held === undefined) this.byKey.set(key, traffic);
    else if (held instanceof Set) held.add(traffic);
    else if (held !== traffic) this.byKey.set(key, new Set([held, traffic]));
  }

  /** @internal for ConnectionTraffic */
  remove(key: string, traffic: ConnectionTraffic): void {
    const held = this.byKey.get(key);
    if (held === traffic) this.byKey.delete(key);
    else if (held instanceof Set) {
      held.delete(traffic);
      if (held.size === 0) this.byKey.delete(key);
    }
  }

  /** The destination is gone: every connection forgets its sends to it. */
  forget(destination: Destination): void {
    const key = `${destination.kind}:${destination.name}`;
    const held = this.byKey.get(key);
    if (held === undefined) return;
    this.byKey.delete(key);
    if (held instanceof Set) for (const traffic of held) traffic.forget(destination);
    else held.forget(destination);
  }
}

/** Never written to: the maps of a connection that has sent nothing yet. */
const NOTHING_SENT: ReadonlyMap<string, ProducerTraffic> = new Map();

/**
 * What one connection sent and was delivered, for operators: totals with rates, and its sends by
 * destination (a producer, for protocols without producer objects), as long as the destination
 * exists and within SENT_DESTINATIONS_KEPT. Names are map keys as they come, so counting a send
 * allocates nothing.
 */
export class ConnectionTraffic {
  readonly in: RateCounter;
  readonly out: RateCounter;
  /**
   * Destination name -> sends to it. Made on the first send to that kind: an idle connection kept two
   * empty maps of about 250 bytes each (measured on 2,000 idle MQTT connections).
   */
  private toQueue: Map<string, ProducerTraffic> | undefined;
  private toTopic: Map<string, ProducerTraffic> | undefined;
  /** The last destination sent to: a producer mostly sends to one, and then finds it without a lookup. */
  private last: Destination | undefined;
  private lastCount: ProducerTraffic | undefined;
  /** Turns from one destination to another: the clock of `ProducerTraffic.used`. */
  private turns = 0;

  constructor(
    private readonly clock: () => number,
    private readonly senders?: DestinationSenders,
  ) {
    this.in = new RateCounter(clock);
    this.out = new RateCounter(clock);
  }

  get sentToQueue(): ReadonlyMap<string, ProducerTraffic> {
    return this.toQueue ?? NOTHING_SENT;
  }

  get sentToTopic(): ReadonlyMap<string, ProducerTraffic> {
    return this.toTopic ?? NOTHING_SENT;
  }

  sent(destination: Destination): void {
    this.in.count();
    const last = this.last;
    if (last !== undefined && (last === destination || (last.name === destination.name && last.kind === destination.kind))) {
      this.lastCount!.sent++;
      this.lastCount!.rate.count();
      return;
    }
    const map = destination.kind === 'queue' ? (this.toQueue ??= new Map()) : (this.toTopic ??= new Map());
    let count = map.get(destination.name);
    if (count === undefined) {
      if (this.sentToQueue.size + this.sentToTopic.size >= SENT_DESTINATIONS_KEPT) this.forgetLeastUsed();
      map.set(destination.name, (count = { sent: 0, rate: new RateCounter(this.clock), used: 0 }));
      this.senders?.add(`${destination.kind}:${destination.name}`, this);
    }
    count.used = ++this.turns;
    count.sent++;
    count.rate.count();
    this.last = destination;
    this.lastCount = count;
  }

  /** Forgets the sends to a destination that is gone. */
  forget(destination: Destination): void {
    const map = destination.kind === 'queue' ? this.toQueue : this.toTopic;
    if (map?.delete(destination.name) !== true) return;
    if (this.last !== undefined && this.last.kind === destination.kind && this.last.name === destination.name) {
      this.last = undefined;
      this.lastCount = undefined;
    }
  }

  /** The connection has ended: the senders' index lets go of it. */
  close(): void {
    if (this.senders === undefined) return;
    for (const name of this.sentToQueue.keys()) this.senders.remove(`queue:${name}`, this);
    for (const name of this.sentToTopic.keys()) this.senders.remove(`topic:${name}`, this);
  }

  /** Past SENT_DESTINATIONS_KEPT: a quarter go at once, so the sort is paid once per that many new destinations. */
  private forgetLeastUsed(): void {
    // the destination sent to last is in use, however long ago the connection turned to it
    if (this.lastCount !== undefined) this.lastCount.used = ++this.turns;
    const entries: [Destination, number][] = [];
    for (const [name, { used }] of this.sentToQueue) entries.push([{ kind: 'queue', name }, used]);
    for (const [name, { used }] of this.sentToTopic) entries.push([{ kind: 'topic', name }, used]);
    entries.sort((a, b) => a[1] - b[1]);
    for (const [destination] of entries.slice(0, Math.ceil(SENT_DESTINATIONS_KEPT / 4))) {
      this.forget(destination);
      this.senders?.remove(`${destination.kind}:${destination.name}`, this);
    }
  }
}

/**
 * What one session sent and was delivered, for operators. A delivery counts for its connection
 * too, so the connection's figures stay whole when the session closes.
 */
export class SessionTraffic {
  readonly in: RateCounter;
  readonly out: RateCounter;

  constructor(
    clock: () => number,
    private readonly connection: ConnectionTraffic,
  ) {
    this.in = new RateCounter(clock);
    this.out = new RateCounter(clock);
  }

  sent(destination: Destination): void {
    this.in.count();
    this.connection.sent(destination);
  }

  /** One delivery to a consumer of the session. */
  count(): void {
    this.out.count();
    this.connection.out.count();
  }
}
