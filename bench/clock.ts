// One clock for every thread of the load generator: the monotonic clock behind
// process.hrtime.bigint() is system-wide, so a timestamp taken by the producer's thread can be
// subtracted from one taken by a consumer's thread (or another process on the same machine).

/** Microseconds of the monotonic clock; a double holds them exactly for 285 years of uptime. */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * When the messages of one paced send were due: message `i` of the batch at `firstUs + i * stepUs`
 * (µs of nowUs()). Stamping the due time rather than the time of the write charges a late send to
 * the latency, so that a stall (of the broker or of the load generator) that delays the sends behind
 * it is measured instead of hidden (coordinated omission).
 */
export interface SendSchedule {
  readonly firstUs: number;
  readonly stepUs: number;
}

/** The `ts` stamp of message `i` of a send: its due time when paced, else the time of the write. */
export function stampUs(schedule: SendSchedule | undefined, now: number, i: number): number {
  return schedule === undefined ? now : Math.round(schedule.firstUs + i * schedule.stepUs);
}
