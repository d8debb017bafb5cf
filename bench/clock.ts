// One clock for every thread of the load generator: the monotonic clock behind
// process.hrtime.bigint() is system-wide, so a timestamp taken by the producer's thread can be
// subtracted from one taken by a consumer's thread (or another process on the same machine).

/** Microseconds of the monotonic clock; a double holds them exactly for 285 years of uptime. */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
