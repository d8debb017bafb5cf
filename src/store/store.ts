import type { FerryError } from '../errors.js';

/**
 * The store deals in records, not messages: core encodes what it needs to keep (destinations,
 * durable subscriptions, messages, references of messages from queues, delivery counts) as records
 * with a numeric id and a type, and the store keeps them durably. The in-memory store, the journal
 * and PostgreSQL all implement this interface and pass one conformance suite.
 *
 * Appends are synchronous and ordered: they join the current batch. `sync()` resolves once every
 * record appended before the call is durable, so many producers share one write and one sync
 * (group commit).
 */
export interface StoreRecord {
  readonly id: number;
  readonly type: number;
  readonly data: Buffer;
}

export interface PreparedTransaction {
  readonly txId: number;
  /** Opaque data given to `prepare` (for example an XA xid). */
  readonly data: Buffer;
  /** Records that the transaction adds, updates or deletes, in order, applied if it commits. */
  readonly operations: readonly TransactionOperation[];
}

export type TransactionOperation =
  | { readonly op: 'add' | 'update'; readonly record: StoreRecord }
  | { readonly op: 'delete'; readonly id: number };

export interface RecoveredState {
  /**
   * Live records in the order they were first added; the caller may empty it as it goes. A store
   * that offers `stream` builds this array only when it is read.
   */
  readonly records: StoreRecord[];
  /**
   * The same records, each made as the caller takes it, so that millions of them need not exist at
   * once. Read either this or `records`, once; a store offering it keeps what recovery read until
   * the caller has taken every record.
   */
  readonly stream?: Iterable<StoreRecord>;
  /** Transactions prepared (two-phase) but neither committed nor rolled back. */
  readonly prepared: readonly PreparedTransaction[];
  /** Highest record or transaction id ever used, so new ids never collide with old ones. */
  readonly maxId: number;
  /**
   * Present when the store read first the records the caller needs first (see `OpenOptions.later`):
   * `records` and `stream` hold those only, `prepared` is empty, and this resolves to the others
   * once the store has read them (each made as it is taken, as in `stream`), or rejects if it could
   * not. The store takes appends meanwhile.
   */
  readonly later?: Promise<Iterable<StoreRecord>>;
}

export interface StoreStats {
  readonly records: number;
  readonly bytes: number;
}

/** A store kept in a database, for operators: what it holds, and whether its commits go through. */
export interface DatabaseStoreStatus {
  /** The database: 'postgres'. */
  readonly type: 'postgres';
  /** Live records, and the bytes of their data. */
  readonly records: number;
  readonly bytes: number;
  /**
   * While commits fail (and new persistent messages are refused): since when (ISO time), the last
   * error, and how many batches have failed since. Null while commits go through.
   */
  readonly failing: { readonly since: string; readonly error: string; readonly failedBatches: number } | null;
  /** Commits that failed since the store opened; each batch was tried again. */
  readonly failedCommits: number;
  /** Failed reads of waiting messages in the background since the store opened; each went on after a delay. */
  readonly failedLoads: number;
}

/** One file of a store that keeps files (the journal), for operators. */
export interface StoreSegmentDescription {
  readonly file: string;
  readonly size: number;
  readonly liveBytes: number;
  readonly deadBytes: number;
  readonly liveRecords: number;
  /** Some of the live record ids that keep the file on disk. */
  readonly keptAliveBy: readonly number[];
  /** Older files that must go before this one can. */
  readonly waitsFor: readonly string[];
}

export interface StoreDescription {
  readonly diskBytes: number;
  readonly segments: readonly StoreSegmentDescription[];
}

export interface OpenOptions {
  /**
   * How many bytes of a recovered record to keep in memory: all of it by default. A store that can
   * read records back (`reader`) may keep only this prefix; the rest stays on disk. The record is
   * `data[start, end)`: the journal asks of millions of records, each within a segment it read whole.
   */
  readonly keep?: ((type: number, data: Buffer, start: number, end: number) => number) | undefined;
  /**
   * The record types the caller can take after it has started serving (waiting messages); it needs
   * the others first (destinations, subscriptions...). A store that can read those first (the
   * journal from its catalog, PostgreSQL through an index) then does so when more than `above`
   * records of these types are live: `open` returns the others at once, and these in `later`.
   */
  readonly later?: { readonly types: readonly number[]; readonly above: number } | undefined;
}

/** Reads live records back from disk, for a store that does not keep their data in memory. */
export interface RecordReader {
  /** True when record `id` is live and can be read back. */
  has(id: number): boolean;
  /**
   * The records' data, in the order asked; a buffer may be a view into a larger read. A record
   * deleted while the read was under way may come back undefined.
   */
  readMany(ids: readonly number[]): Promise<(Buffer | undefined)[]>;
  /**
   * One record's data, read before returning: for the rare read that cannot wait. Absent from a
   * store that reads asynchronously only (PostgreSQL): core then reads every body with `readMany`
   * before it needs it, and keeps in memory a body it could not wait for.
   */
  readSync?(id: number): Buffer;
}

/** Hears how a store's writes go, for metrics; it must be quick, and it must not throw. */
export interface StoreObserver {
  /** One write's sync to disk took this long. */
  synced(seconds: number): void;
  /** One group commit wrote this many records. */
  batchWritten(records: number): void;
}

export interface Store {
  /** Opens the store and returns what it holds. Called once, before any append. */
  open(options?: OpenOptions): Promise<RecoveredState>;
  /**
   * Starts reading, before `open` and without writing, what `open` will return; `open` uses it if
   * nothing changed meanwhile. For an HA backup whose primary stopped renewing its lease. Resolves
   * when the reading has ended, whether or not it succeeded.
   */
  readAhead?(options?: OpenOptions): Promise<void>;
  /** Forgets what `readAhead` read (the primary renews its lease again). */
  dropReadAhead?(): void;
  /**
   * True when the store was opened to repair damage (the journal's `repair`): the broker may then
   * delete the records it cannot place (a message without its queue). Otherwise it leaves them be,
   * as they may be what is left of records that a lost or damaged file held.
   */
  readonly repairing?: boolean;
  /** Present when the store can read records back, so their data need not stay in memory. */
  readonly reader?: RecordReader;
  /** Adds a record; with `txId`, only when that transaction commits. */
  add(id: number, type: number, data: Buffer, txId?: number): void;
  /** Replaces the data of a live record; with `txId`, only when that transaction commits. */
  update(id: number, type: number, data: Buffer, txId?: number): void;
  /** Deletes a record; with `txId`, only when that transaction commits. */
  delete(id: number, txId?: number): void;
  /** Makes a transaction's operations durable without applying them (two-phase commit). */
  prepare(txId: number, data: Buffer): void;
  /** Applies a transaction's operations atomically. */
  commit(txId: number): void;
  /** Discards a transaction's operations. */
  rollback(txId: number): void;
  /**
   * Resolves when every record appended before this call is durable. While writes fail it waits for
   * them to go in, unless `giveUpOnFailure`: then it is rejected with the failure at once (the
   * broker's own bookkeeping, such as a delivery mark, which must not hold deliveries back).
   */
  sync(giveUpOnFailure?: boolean): Promise<void>;
  /**
   * True for a store that keeps each append at once (in memory): nothing an append is waiting for,
   * so a caller need not wait for `sync()` before acting on it.
   */
  readonly keepsAppendsAtOnce?: boolean;
  /**
   * Why new persistent messages are refused now (FERRY_STORE_FULL: writes failing for lack of
   * space, or a size or free-disk watermark passed), if they are. Appends still go on while it
   * says so: the deletes of acknowledgements are what frees the space, so they must never throw.
   */
  writeRefusal?(): FerryError | undefined;
  /** Reclaims space held by dead records; never blocks appends for long. */
  compact(): Promise<void>;
  stats(): StoreStats;
  /** What the store holds on disk and why, where it keeps files. */
  describe?(): StoreDescription;
  /** How a store kept in a database is doing (PostgreSQL). */
  databaseStatus?(): DatabaseStoreStatus;
  /** Tells `observer` of each sync and group commit (a store that writes files). */
  observe?(observer: StoreObserver | undefined): void;
  close(): Promise<void>;
}
