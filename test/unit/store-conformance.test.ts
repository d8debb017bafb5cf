import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JournalStore, MemoryStore, type Store } from '../../src/store/index.js';
import { storeConformance } from './store-conformance.js';

storeConformance('MemoryStore', async () => {
  const store = new MemoryStore();
  return {
    store,
    reopen: async () => {
      await store.close();
      return store;
    },
    cleanup: () => store.close(),
  };
});

storeConformance('JournalStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-journal-'));
  // small segments, so that the suite also crosses segment boundaries
  const open = (): JournalStore => new JournalStore({ dir, segmentSize: 64 * 1024, compactInterval: 0 });
  let current: Store = open();
  return {
    store: current,
    reopen: async () => {
      await current.close();
      current = open();
      return current;
    },
    cleanup: async () => {
      await current.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
