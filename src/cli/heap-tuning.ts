import v8 from 'node:v8';

/**
 * V8 settings for the broker's process, made before the broker loads.
 *
 * Allocation-site pretenuring: V8 watches object literals, and once most objects of one survive
 * young collections it allocates every later one straight in the old generation, for good. A
 * broker goes through phases, and a decision made in one holds in the next: after a paced
 * persistent JMS run, every delivery of a light non-persistent load went to the old generation
 * (0.6 MB/s at 1,000 messages a second), which then needed a full collection every 10 s, each a
 * pause of several milliseconds that the deliveries of that moment waited out. Without it the old
 * generation stays flat at light load, and unpaced throughput did not change. The price is paid
 * once: under a burst of connections their objects go through the young generation, which grows
 * by a few MB more (1.6 KiB per connection after 2,000 connects to a cold broker, none measured
 * after a warm-up, at 10,000).
 *
 * `node --allocation-site-pretenuring` (or `--no-…`) given explicitly is left as given.
 */
export function tuneHeap(execArgv: readonly string[] = process.execArgv): { pretenuring: 'off' | 'as given' } {
  if (execArgv.some((arg) => /^--(no-)?allocation[-_]site[-_]pretenuring$/.test(arg))) return { pretenuring: 'as given' };
  v8.setFlagsFromString('--no-allocation-site-pretenuring');
  return { pretenuring: 'off' };
}
