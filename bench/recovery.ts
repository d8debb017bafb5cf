// Recovery of a large backlog: fills a journal with persistent messages through the broker's core
// (no sockets: the network is not what is measured here), stops, starts a fresh broker on the same
// journal in a process of its own and reports how long recovery took and the memory the recovered
// broker holds.
//
// With a body cache (the default, 256 MiB, like `store.bodyCacheSize`), recovery keeps only that much
// of the bodies in memory; the drain that follows reads the rest back and reports its rate.
//
// With --background, the broker serves before its queues are loaded (`store.loadInBackgroundAbove`
// 0): the figure is then the time until it serves, and the time until every queue is whole follows.
// The filling broker stops cleanly, writing the journal's catalog; with --crash it is left running
// instead, as after kill -9, and the next start finds the catalog last written while filling.

import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Broker } from '../src/core/index.js';
import { JournalStore } from '../src/store/index.js';
import { commandLine, positive } from './args.js';

const USAGE = `usage: npm run build && node --expose-gc dist/bench/recovery.js [--messages 1000000] [--size 1024] [--cache BYTES|none] [--background] [--crash] [--no-drain] [--keep]`;

const { values, messages, bodyCacheSize, size } = commandLine(USAGE, {
  messages: { type: 'string' },
  size: { type: 'string' },
  cache: { type: 'string' },
  'no-drain': { type: 'boolean' },
  keep: { type: 'boolean' },
  background: { type: 'boolean' },
  crash: { type: 'boolean' },
  // the second half, in its own process: recover the journal in DIR
  'recover-only': { type: 'string' },
}, (values) => ({
  values,
  messages: positive('messages', values.messages, 1_000_000, true),
  bodyCacheSize: values.cache === 'none' ? Number.POSITIVE_INFINITY : positive('cache', values.cache, 256 * 1024 * 1024, true),
  size: positive('size', values.size, 1024, true),
}));
const recoverOnly = values['recover-only'];
const dir = recoverOnly ?? mkdtempSync(join(tmpdir(), 'ferry-recovery-'));
const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MiB`;
const gc = (globalThis as { gc?: () => void }).gc;

/** Fills the journal; everything it built is garbage once it returns, so memory after recovery is recovery's own. */
async function fill(): Promise<number> {
  const filling = new Broker({ store: new JournalStore({ dir }), bodyCacheSize });
  await filling.start();
  const session = (await filling.connect({ protocol: 'bench', transport: { remoteAddress: 'local' } })).createSession();
  const body = Buffer.alloc(size, 0x61);
  let window: Promise<void>[] = [];
  const started = performance.now();
  for (let i = 0; i < messages; i++) {
    const durable = session.send({ destination: { kind: 'queue', name: 'backlog' }, body, persistent: true });
    if (durable !== null) window.push(durable);
    if (window.length >= 1000) {
      await Promise.all(window);
      window = [];
    }
  }
  await Promise.all(window);
  const seconds = (performance.now() - started) / 1000;
  // left running: its process ends once recovery's has
  if (values.crash !== true) await filling.stop();
  return seconds;
}

if (recoverOnly === undefined) {
  const fillSeconds = await fill();
  const disk = readdirSync(join(dir)).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
  console.log(`filled ${messages.toLocaleString()} persistent ${size} B messages in ${fillSeconds.toFixed(1)} s (${Math.round(messages / fillSeconds).toLocaleString()} msg/s), journal ${mib(disk)}`);
  // recovery runs in a process of its own, so that its memory is recovery's and not what filling left behind
  const recovery = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), '--recover-only', dir], { stdio: 'inherit' });
  if (values.keep !== true) rmSync(dir, { recursive: true, force: true });
  else console.log(`journal kept in ${dir}`);
  process.exit(recovery.status ?? 1);
}

gc?.();
const before = process.memoryUsage();
const start = performance.now();
const recovered = new Broker({ store: new JournalStore({ dir }), bodyCacheSize, ...(values.background === true ? { loadInBackgroundAbove: 0 } : {}) });
await recovered.start();
const seconds = (performance.now() - start) / 1000;
if (values.background === true) {
  console.log(`serving after ${seconds.toFixed(1)} s`);
  await recovered.loaded;
  console.log(`every queue whole after ${((performance.now() - start) / 1000).toFixed(1)} s`);
}
// twice: buffers whose objects die in the first collection are released by the next
gc?.();
gc?.();
const after = process.memoryUsage();
const queue = recovered.stats().queues.find((q) => q.name === 'backlog');
if (values.background !== true) console.log(`recovered ${(queue?.pending ?? 0).toLocaleString()} waiting messages in ${seconds.toFixed(1)} s`);
else console.log(`recovered ${(queue?.pending ?? 0).toLocaleString()} waiting messages`);
console.log(`memory after recovery: rss ${mib(after.rss)}, heap ${mib(after.heapUsed)}, buffers ${mib(after.arrayBuffers)} (before: rss ${mib(before.rss)}, heap ${mib(before.heapUsed)})`);
const bodies = recovered.stats().messageBodies;
console.log(`body cache (limit ${bodyCacheSize === Number.POSITIVE_INFINITY ? 'none' : mib(bodyCacheSize)}): ${mib(bodies.residentBytes)} of bodies in memory, ${bodies.onDisk.toLocaleString()} bodies on disk only`);

if (values['no-drain'] !== true) {
  // a consumer takes the whole backlog, acknowledging as it goes: the rate includes reading bodies back
  const drainStart = performance.now();
  let received = 0;
  let peakRss = 0;
  const drainer = await recovered.connect({ protocol: 'bench', transport: { remoteAddress: 'local' } });
  await new Promise<void>((resolve) => {
    const consumer = drainer.createSession().subscribe({
      destination: { kind: 'queue', name: 'backlog' },
      ackMode: 'individual',
      prefetch: 1000,
      sink: {
        deliver: (delivery) => {
          if (delivery.message.body.length !== size) throw new Error(`a body of ${delivery.message.body.length} bytes, expected ${size}`);
          const n = ++received;
          if (n % 100_000 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
          setImmediate(() => {
            consumer.acknowledge(delivery.tag);
            if (n === queue?.pending) resolve();
          });
        },
        isWritable: () => true,
        onWritable: () => {},
      },
    });
  });
  const drainSeconds = (performance.now() - drainStart) / 1000;
  const drained = recovered.stats().messageBodies;
  console.log(
    `drained ${received.toLocaleString()} in ${drainSeconds.toFixed(1)} s (${Math.round(received / drainSeconds).toLocaleString()} msg/s); ` +
      `bodies read ahead ${drained.readAhead.toLocaleString()}, on demand ${drained.readOnDemand.toLocaleString()}; peak rss ${mib(peakRss)}`,
  );
}
await recovered.stop();
