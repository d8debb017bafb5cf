// The disk's own rate of small durable writes: 4 KiB written and fdatasync'ed, one after another, in
// a temporary folder (pass --dir to measure another disk). A broker that syncs once per message can
// go no faster than this; group commit is how the journal goes past it.

import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandLine, positive } from './args.js';

const USAGE = `usage: npm run build && node dist/bench/fsync.js [--seconds 3] [--dir DIR]`;

const { seconds, parent } = commandLine(USAGE, { seconds: { type: 'string' }, dir: { type: 'string' } }, (values) => ({
  seconds: positive('seconds', values.seconds, 3, false),
  parent: values.dir ?? tmpdir(),
}));
const dir = mkdtempSync(join(parent, 'ferry-fsync-'));
const fd = openSync(join(dir, 'probe'), 'w');
const block = Buffer.alloc(4096, 0x5a);
const latencies: number[] = [];
const end = performance.now() + seconds * 1000;
let position = 0;
while (performance.now() < end) {
  const started = performance.now();
  writeSync(fd, block, 0, block.length, position);
  fdatasyncSync(fd);
  latencies.push(performance.now() - started);
  position += block.length;
}
closeSync(fd);
rmSync(dir, { recursive: true, force: true });
latencies.sort((a, b) => a - b);
const at = (q: number): string => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(3);
console.log(`${Math.round(latencies.length / seconds).toLocaleString()} write+fdatasync/s of 4 KiB (${latencies.length} in ${seconds} s; p50 ${at(0.5)} ms, p99 ${at(0.99)} ms)`);
