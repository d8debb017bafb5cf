// What one journal compaction costs: a journal of 1 KiB records of which a fraction stays live (the
// rest deleted, spread evenly), then `compact()` timed, with the most memory outside the heap it
// took on top of what was there (sampled every 5 ms). To compare with another build, pass that
// build's journal module.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { commandLine, positive, UsageError } from './args.js';
import type { JournalEvent, JournalStore as JournalStoreType } from '../src/store/journal/index.js';

const USAGE = `usage: npm run build && node dist/bench/compaction.js [--live 0.25] [--records 120000] [--journal FILE]`;

const { live, records, moduleUrl } = commandLine(USAGE, { live: { type: 'string' }, records: { type: 'string' }, journal: { type: 'string' } }, (values) => {
  const fraction = Number(values.live ?? 0.25);
  if (!(fraction >= 0 && fraction <= 1)) throw new UsageError(`--live must be a fraction from 0 to 1, not ${JSON.stringify(values.live)}`);
  return {
    live: fraction,
    records: positive('records', values.records, 120_000, true),
    moduleUrl: values.journal === undefined ? new URL('../src/store/journal/index.js', import.meta.url).href : pathToFileURL(resolve(values.journal)).href,
  };
});
const { JournalStore } = (await import(moduleUrl)) as { JournalStore: typeof JournalStoreType };

const dir = mkdtempSync(join(tmpdir(), 'ferry-compaction-'));
const events: JournalEvent[] = [];
const store = new JournalStore({ dir, compactInterval: 0, onEvent: (e) => events.push(e) });
await store.open();
const body = Buffer.alloc(1024, 0x61);
for (let id = 1; id <= records; id++) {
  store.add(id, 4, body);
  if (id % 1000 === 0) await store.sync();
}
await store.sync();
// a multiplicative hash spreads the survivors evenly over the files
const keeps = (id: number): boolean => ((id * 2654435761) % 1000) / 1000 < live;
for (let id = 1; id <= records; id++) if (!keeps(id)) store.delete(id);
await store.sync();

const base = process.memoryUsage().arrayBuffers;
let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers - base)), 5);
const started = performance.now();
await store.compact();
const ms = performance.now() - started;
clearInterval(sampler);
const compacted = events.find((e) => e.event === 'journal.compacted');
await store.close();
rmSync(dir, { recursive: true, force: true });
console.log(
  `compacted ${String(Array.isArray(compacted?.['segments']) ? compacted['segments'].length : 0)} files, moved ${String(compacted?.['moved'] ?? 0)} records ` +
    `(${live * 100}% of ${records} live) in ${Math.round(ms)} ms; at most ${(peak / 1048576).toFixed(1)} MB more outside the heap`,
);
