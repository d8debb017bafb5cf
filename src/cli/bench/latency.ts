/**
 * Latencies in logarithmic buckets 1 % wide: constant memory however long the run, percentiles
 * exact to within 1 % (the same scheme as the benchmark in bench/).
 */
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
/** 1.01^3000 µs is far past any latency a run reports. */
const BUCKETS = 3000;

export class Latencies {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  maxUs = 0;

  record(us: number): void {
    const bucket = us <= 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(us) / LOG_GROWTH));
    this.counts[bucket]! += 1;
    this.count++;
    if (us > this.maxUs) this.maxUs = us;
  }

  /** The latency at quantile q (0..1) in µs, the middle of its bucket; NaN before any sample. */
  quantileUs(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return i === 0 ? 1 : Math.min(this.maxUs, GROWTH ** (i + 0.5));
    }
    return this.maxUs;
  }
}
