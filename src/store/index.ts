export type { DatabaseStoreStatus, OpenOptions, PreparedTransaction, RecordReader, RecoveredState, Store, StoreDescription, StoreObserver, StoreRecord, StoreSegmentDescription, StoreStats, TransactionOperation } from './store.js';
export { MemoryStore } from './memory-store.js';
export { JournalStore, nodeFileSystem, type JournalFileSystem, type JournalOptions, type JournalDescription } from './journal/index.js';
export { DataFolderLock, processAlive } from './data-lock.js';
export { PostgresStore, type PostgresOptions, type PostgresEvent } from './postgres/index.js';
