// Recovery of a large backlog: fills a journal with persistent messages through the broker's core
// (no sockets: the network is not what is measured here), stops, starts a fresh broker on the same
// journal and reports how long recovery took and the memory the recovered broker holds.
//
//   npm run build && node --expose-gc dist/bench/recovery.js [--messages 1000000] [--size 1024] [--keep]

import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Broker } from '../src/core/index.js';
import { JournalStore } from '../src/store/index.js';

const { values } = parseArgs({ options: { messages: { type: 'string' }, size: { type: 'string' }, keep: { type: 'boolean' } } });
const messages = Number(values.messages ?? 1_000_000);
const size = Number(values.size ?? 1024);
const dir = mkdtempSync(join(tmpdir(), 'ferry-recovery-'));
const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MiB`;
const gc = (globalThis as { gc?: () => void }).gc;

/** Fills the journal; everything it built is garbage once it returns, so memory after recovery is recovery's own. */
async function fill(): Promise<number> {
  const filling = new Broker({ store: new JournalStore({ dir }) });
  await filling.start();
  const session = filling.connect({ protocol: 'bench', remoteAddress: 'local' }).createSession();
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
  await filling.stop();
  return seconds;
}

const fillSeconds = await fill();
const disk = readdirSync(join(dir)).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
console.log(`filled ${messages.toLocaleString()} persistent ${size} B messages in ${fillSeconds.toFixed(1)} s (${Math.round(messages / fillSeconds).toLocaleString()} msg/s), journal ${mib(disk)}`);

gc?.();
const before = process.memoryUsage();
const start = performance.now();
const recovered = new Broker({ store: new JournalStore({ dir }) });
await recovered.start();
const seconds = (performance.now() - start) / 1000;
gc?.();
const after = process.memoryUsage();
const queue = recovered.stats().queues.find((q) => q.name === 'backlog');
console.log(`recovered ${queue?.pending.toLocaleString()} waiting messages in ${seconds.toFixed(1)} s`);
console.log(`memory after recovery: rss ${mib(after.rss)}, heap ${mib(after.heapUsed)}, buffers ${mib(after.arrayBuffers)} (before: rss ${mib(before.rss)}, heap ${mib(before.heapUsed)})`);
await recovered.stop();
if (values.keep !== true) rmSync(dir, { recursive: true, force: true });
else console.log(`journal kept in ${dir}`);
