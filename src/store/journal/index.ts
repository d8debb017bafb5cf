export { JournalStore, type JournalDescription, type JournalEvent, type JournalOptions, type JournalSegmentDescription } from './journal-store.js';
export type { RecoveryDrop, RecoveryReport } from './recovery.js';
export { nodeFileSystem, type JournalFileSystem } from './file-system.js';
