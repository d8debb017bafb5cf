import type { Destination } from './message.js';

/** Seconds a rate is measured over. */
export const RATE_WINDOW_SECONDS = 10;

/**
 * A running count with its rate over the last RATE_WINDOW_SECONDS: a ring of per-second counts,
 * moved on by the clock as counts arrive or the rate is read, so nothing runs between messages.
 */
export class RateCounter {
  total = 0;
  private readonly ring = new Float64Array(RATE_WINDOW_SECONDS);
  private second = 0;

  constructor(private readonly clock: () => number) {}

  count(n = 1): void {
    this.total += n;
    const second = Math.floor(this.clock() / 1000);
    if (second !== this.second) this.advance(second);
    this.ring[second % RATE_WINDOW_SECONDS]! += n;
  }

  /** Per second, averaged over the window (the current second included). */
  rate(): number {
    this.advance(Math.floor(this.clock() / 1000));
    let sum = 0;
    for (const n of this.ring) sum += n;
    return sum / RATE_WINDOW_SECONDS;
  }

  private advance(second: number): void {
    if (second <= this.second) return;
    // the seconds passed since the last count held none
    const gap = Math.min(second - this.second, RATE_WINDOW_SECONDS);
    for (let i = 1; i <= gap; i++) this.ring[(this.second + i) % RATE_WINDOW_SECONDS] = 0;
    this.second = second;
  }
}

/**
 * What one connection sent and was delivered, for operators: totals with rates, and its sends by
 * destination (a producer, for protocols without producer objects). Names are map keys as they
 * come, so counting a send allocates nothing.
 */
export class ConnectionTraffic {
  readonly in: RateCounter;
  readonly out: RateCounter;
  readonly sentToQueue = new Map<string, number>();
  readonly sentToTopic = new Map<string, number>();

  constructor(clock: () => number) {
    this.in = new RateCounter(clock);
    this.out = new RateCounter(clock);
  }

  sent(destination: Destination): void {
    this.in.count();
    const map = destination.kind === 'queue' ? this.sentToQueue : this.sentToTopic;
    map.set(destination.name, (map.get(destination.name) ?? 0) + 1);
  }
}
