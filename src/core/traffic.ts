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

/** A connection's sends to one destination. */
export interface ProducerTraffic {
  sent: number;
  readonly rate: RateCounter;
}

/**
 * What one connection sent and was delivered, for operators: totals with rates, and its sends by
 * destination (a producer, for protocols without producer objects). Names are map keys as they
 * come, so counting a send allocates nothing.
 */
/** Never written to: the maps of a connection that has sent nothing yet. */
const NOTHING_SENT: ReadonlyMap<string, ProducerTraffic> = new Map();

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

  constructor(private readonly clock: () => number) {
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
    if (count === undefined) map.set(destination.name, (count = { sent: 0, rate: new RateCounter(this.clock) }));
    count.sent++;
    count.rate.count();
    this.last = destination;
    this.lastCount = count;
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
