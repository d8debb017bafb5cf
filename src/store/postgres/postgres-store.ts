import pg from 'pg';
import type { PoolClient } from 'pg';
import { FerryError, isFerryError } from '../../errors.js';
import type { DatabaseStoreStatus, OpenOptions, PreparedTransaction, RecordReader, RecoveredState, Store, StoreRecord, StoreStats, TransactionOperation } from '../store.js';
import { CopySlab } from '../copy-slab.js';
import { PendingBatch, decodeOperations, encodeOperations } from './batch.js';
import { commitBatch, estimatedRows, firstRowsCondition, prepareFirstRowsIndex, prepareSchema } from './schema.js';

export interface PostgresOptions {
  /** A libpq-style connection string: postgresql://user:password@host:port/database (`?host=/dir` for a unix socket). */
  readonly url: string;
  /** Connections kept open; commits use one at a time, reads and recovery the others. Default 4. */
  readonly poolSize?: number | undefined;
  /**
   * Milliseconds a statement may go without an answer before it fails, its connection is closed, and
   * (a commit) it is tried again. Default 60,000.
   */
  readonly queryTimeout?: number | undefined;
  /**
   * Called before each commit; a throw fails the commit as a lost connection would (its syncs are
   * rejected, the batch is tried again later). High availability passes its lease check here, so a
   * broker that lost the lease commits nothing more.
   */
  readonly guard?: (() => void) | undefined;
  /**
   * Receives the store's events: postgres.failed (a commit did not go through), postgres.recovered
   * (one did again), postgres.load-failed (reading waiting messages back in the background failed;
   * it goes on after a delay), postgres.load-resumed (that reading ended after failures).
   */
  readonly onEvent?: ((event: PostgresEvent) => void) | undefined;
}

export type PostgresEvent =
  | { readonly event: 'postgres.failed'; readonly error: string; readonly retryIn: number }
  | { readonly event: 'postgres.recovered'; readonly failedBatches: number }
  | { readonly event: 'postgres.load-failed'; readonly error: string; readonly recordsRead: number; readonly retryIn: number }
  | { readonly event: 'postgres.load-resumed'; readonly failedReads: number; readonly records: number };

interface OpenTransaction {
  readonly operations: TransactionOperation[];
  prepared: boolean;
}

interface SyncWaiter {
  seq: number;
  readonly batch: number;
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  /** Rejected when a commit fails, rather than waiting for the batch to go in (see `Store.sync`). */
  readonly givesUp: boolean;
}

function ignoreBetweenStatements(): void {}

/** A server process, named so that a later process with the same pid is not taken for it. */
interface Backend {
  readonly pid: number;
  /** `pg_stat_activity.backend_start` as the server wrote it. */
  readonly started: string;
}

/** Rows fetched per round trip while recovering. */
const RECOVERY_FETCH = 5000;
/** A connection not made within this fails the batch, which is then retried. */
const CONNECT_TIMEOUT = 10_000;
const QUERY_TIMEOUT = 60_000;
/** The longest pause between two looks at whether a given-up commit's server process has gone. */
const UNENDED_POLL_MAX = 100;
const RETRY_FIRST = 100;
const RETRY_MAX = 2000;

/**
 * The `Store` in a PostgreSQL database, for brokers that share their storage or want it replicated
 * by the database. Records are rows of `ferry_records`; prepared transactions rows of
 * `ferry_prepared` (docs/store-postgres.md).
 *
 * Appends are synchronous: they change the store's view of what is live at once and join the
 * pending batch, folded by id. All appends of one turn of the event loop go to the database in one
 * statement (one round trip, one commit), with at most one commit in flight; `sync()` resolves when
 * the commit carrying everything appended before it has committed.
 *
 * A commit that fails (the connection dropped, the server restarting) keeps the syncs waiting for
 * it: its batch is routed already and may even have reached the disk, so a refusal would only invite
 * a resend and a duplicate. The batch stays pending, folded with what comes next, and goes out again
 * on a new connection once the failed commit's server process has gone; its syncs resolve when it
 * commits. Meanwhile `writeRefusal` refuses new persistent messages, so what waits for the database
 * stays bounded.
 *
 * Its `reader` reads records back asynchronously only (`readMany`, one query for many ids; there is no
 * synchronous read from PostgreSQL), so core's body cache can let message bodies leave memory and
 * reads them back before it needs them; recovery then keeps only the prefix of each record that
 * `OpenOptions.keep` asks for.
 */
export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  private readonly onEvent: ((event: PostgresEvent) => void) | undefined;
  private readonly guard: (() => void) | undefined;
  private phase: 'new' | 'opening' | 'open' | 'closing' | 'closed' = 'new';
  /** Data length of every live record, pending ones included: what `stats` and `update` go by. */
  private readonly live = new Map<number, number>();
  private liveBytes = 0;
  private readonly transactions = new Map<number, OpenTransaction>();
  private pending = new PendingBatch();
  /** The batch being committed: its records are read from here until it has. */
  private committing: PendingBatch | undefined;
  private nextSeq = 1;
  private maxId = 0;
  private maxIdWritten = -1;
  private appendSeq = 0;
  private durableSeq = 0;
  private batchesTaken = 0;
  private waiters: SyncWaiter[] = [];
  private flushing: Promise<void> | undefined;
  private flushScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay = RETRY_FIRST;
  private failedBatches = 0;
  /** Set from a failed commit until one goes through: why new persistent messages are refused. */
  private failure: FerryError | undefined;
  /** When the commits began to fail (ms since the epoch), while they do. */
  private failingSince: number | undefined;
  private failedCommits = 0;
  private failedLoads = 0;
  private readonly queryTimeout: number;
  /** The server process of the last commit that failed, while it may still be running it (see `endUnended`). */
  private unended: Backend | undefined;
  private readonly backends = new WeakMap<PoolClient, Backend>();

  /** Reads live records back: the body cache uses it to let message bodies leave memory. */
  readonly reader: RecordReader = {
    has: (id) => this.phase === 'open' && this.live.has(id),
    readMany: (ids) => this.readLive(ids),
  };

  constructor(options: PostgresOptions) {
    const poolSize = options.poolSize ?? 4;
    if (!(Number.isInteger(poolSize) && poolSize >= 1)) throw new RangeError(`postgres poolSize ${poolSize} must be a positive integer`);
    this.queryTimeout = options.queryTimeout ?? QUERY_TIMEOUT;
    if (!(Number.isInteger(this.queryTimeout) && this.queryTimeout >= 1)) throw new RangeError(`postgres queryTimeout ${this.queryTimeout} must be a positive integer`);
    this.onEvent = options.onEvent;
    this.guard = options.guard;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: poolSize,
      connectionTimeoutMillis: CONNECT_TIMEOUT,
      // a server that vanishes without closing the connection (a partition, a power cut) is noticed
      // by TCP keep-alive within about a minute, or at the latest by the statement's own time limit
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      query_timeout: this.queryTimeout,
      application_name: 'ferry',
    });
    // an idle connection that the server drops is an 'error' on the pool; without a listener it
    // would end the process. The pool forgets the connection and the next batch opens another.
    this.pool.on('error', () => undefined);
  }

  async open(options?: OpenOptions): Promise<RecoveredState> {
    if (this.phase !== 'new') throw new FerryError('FERRY_STORE_FAILED', 'a PostgresStore opens once; make a new one to open the database again');
    this.phase = 'opening';
    let client: PoolClient | undefined;
    try {
      client = await this.checkOut();
      await prepareSchema(client);
      const later = options?.later;
      if (later !== undefined) {
        await prepareFirstRowsIndex(client, later.types);
        if (await this.manyLater(client, later.types, later.above)) {
          const state = await this.recoverFirst(client, options?.keep, later.types);
          // the client reads the rest in the background, in the same snapshot, and is checked in then
          client = undefined;
          return state;
        }
      }
      const state = await this.recover(client, options?.keep);
      this.checkIn(client);
      this.phase = 'open';
      return state;
    } catch (err) {
      if (client !== undefined) this.checkIn(client, err);
      this.phase = 'closed';
      await this.pool.end().catch(() => undefined);
      if (isFerryError(err)) throw err;
      throw new FerryError('FERRY_STORE_FAILED', `the PostgreSQL store could not be opened: ${(err as Error).message}`, { cause: err });
    }
  }

  add(id: number, type: number, data: Buffer, txId?: number): void {
    this.check(id, type, txId);
    if (txId === undefined) this.put(id, type, data, true);
    else this.transaction(txId).operations.push({ op: 'add', record: { id, type, data } });
  }

  update(id: number, type: number, data: Buffer, txId?: number): void {
    this.check(id, type, txId);
    if (txId === undefined) this.put(id, type, data, false);
    else this.transaction(txId).operations.push({ op: 'update', record: { id, type, data } });
  }

  delete(id: number, txId?: number): void {
    this.check(id, 0, txId);
    if (txId === undefined) this.remove(id);
    else this.transaction(txId).operations.push({ op: 'delete', id });
  }

  prepare(txId: number, data: Buffer): void {
    this.check(txId, 0, undefined);
    const tx = this.transaction(txId);
    this.pending.putPrepared(txId, data, encodeOperations(tx.operations), !tx.prepared);
    tx.prepared = true;
    this.appended();
  }

  commit(txId: number): void {
    this.assertWritable();
    const tx = this.transactions.get(txId);
    // a transaction with nothing in it leaves nothing to write
    if (tx === undefined) return;
    this.transactions.delete(txId);
    // every operation joins the same pending batch: the database applies them in one commit
    for (const operation of tx.operations) {
      if (operation.op === 'delete') this.remove(operation.id);
      else this.put(operation.record.id, operation.record.type, operation.record.data, operation.op === 'add');
    }
    if (tx.prepared) this.pending.deletePrepared(txId);
    this.appended();
  }

  rollback(txId: number): void {
    this.assertWritable();
    const tx = this.transactions.get(txId);
    if (tx === undefined) return;
    this.transactions.delete(txId);
    if (!tx.prepared) return;
    this.pending.deletePrepared(txId);
    this.appended();
  }

  sync(giveUpOnFailure = false): Promise<void> {
    if (this.phase !== 'open' && this.phase !== 'closing') return Promise.reject(this.notOpen());
    if (this.appendSeq === this.durableSeq) return Promise.resolve();
    if (giveUpOnFailure && this.failure !== undefined) return Promise.reject(this.failure);
    // syncs asked before the next batch is taken share one promise (thousands of receipts in one turn)
    const last = this.waiters[this.waiters.length - 1];
    if (last !== undefined && last.batch === this.batchesTaken && last.givesUp === giveUpOnFailure) {
      last.seq = this.appendSeq;
      return last.promise;
    }
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.waiters.push({ seq: this.appendSeq, batch: this.batchesTaken, promise, resolve, reject, givesUp: giveUpOnFailure });
    this.scheduleFlush();
    return promise;
  }

  /**
   * Reads live records' data, in the order asked, with one query for those already committed.
   * Records still waiting for their commit come from memory.
   */
  async readMany(ids: readonly number[]): Promise<Buffer[]> {
    const found = await this.find(ids);
    return ids.map((id) => {
      const data = found.get(id);
      if (data === undefined) throw new FerryError('FERRY_STORE_FAILED', `record ${id} is not in the PostgreSQL store`);
      return data;
    });
  }

  /**
   * `readMany` for the body cache: a record deleted before or while it is read comes back undefined,
   * since a message acknowledged meanwhile no longer needs its body.
   */
  private async readLive(ids: readonly number[]): Promise<(Buffer | undefined)[]> {
    const found = await this.find(ids);
    return ids.map((id) => {
      const data = found.get(id);
      // live but not found: a record the database lost, which must not pass for an acknowledged one
      if (data === undefined && this.live.has(id) && this.pending.records.get(id) === undefined) {
        throw new FerryError('FERRY_STORE_FAILED', `record ${id} is live but not in the PostgreSQL store`);
      }
      return data;
    });
  }

  /** The data of those of `ids` that are live: from memory while their commit is pending, else from one query. */
  private async find(ids: readonly number[]): Promise<Map<number, Buffer>> {
    const found = new Map<number, Buffer>();
    const wanted: number[] = [];
    for (const id of ids) {
      const change = this.pending.records.get(id) ?? this.committing?.records.get(id);
      if (change?.put === true) found.set(id, change.data);
      else if (this.live.has(id)) wanted.push(id);
    }
    if (wanted.length > 0) {
      const result = await this.pool.query<{ id: string; data: Buffer }>('SELECT id, data FROM ferry_records WHERE id = ANY($1::int8[])', [wanted]);
      for (const row of result.rows) if (!found.has(Number(row.id))) found.set(Number(row.id), row.data);
    }
    return found;
  }

  /**
   * Nothing to do: a delete removes its row, and PostgreSQL's autovacuum reclaims the space of
   * dead rows in the background, so the database follows the backlog without Ferry's help.
   */
  async compact(): Promise<void> {}

  stats(): StoreStats {
    return { records: this.live.size, bytes: this.liveBytes };
  }

  databaseStatus(): DatabaseStoreStatus {
    const failing = this.failure === undefined || this.failingSince === undefined ? null : { since: new Date(this.failingSince).toISOString(), error: this.failure.message, failedBatches: this.failedBatches };
    return { type: 'postgres', records: this.live.size, bytes: this.liveBytes, failing, failedCommits: this.failedCommits, failedLoads: this.failedLoads };
  }

  /** While commits fail, new persistent messages are refused; acknowledgements still go in the batch. */
  writeRefusal(): FerryError | undefined {
    return this.failure;
  }

  async close(): Promise<void> {
    if (this.phase === 'new' || this.phase === 'closed') {
      if (this.phase === 'new') await this.pool.end().catch(() => undefined);
      this.phase = 'closed';
      return;
    }
    if (this.phase === 'closing' || this.phase === 'opening') throw new FerryError('FERRY_STORE_FAILED', `the PostgreSQL store is ${this.phase}`);
    this.phase = 'closing';
    let error: unknown;
    // one last try for what is pending, without waiting out a retry delay
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    await this.flushing;
    if (this.appendSeq !== this.durableSeq) await this.flush();
    // what even the last try did not commit: the syncs still waiting for it are refused now
    if (this.appendSeq !== this.durableSeq) error = this.failure ?? new FerryError('FERRY_STORE_FAILED', 'the PostgreSQL store closed with changes uncommitted');
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.phase = 'closed';
    for (const waiter of this.waiters.splice(0)) waiter.reject(error instanceof Error ? error : this.notOpen());
    await this.pool.end().catch((err: unknown) => (error ??= err));
    if (error !== undefined) throw error;
  }

  /** True when more than `above` rows of the types `later` are live: from the planner's estimate when it says so, else counted. */
  private async manyLater(client: PoolClient, later: readonly number[], above: number): Promise<boolean> {
    if (later.length === 0 || !Number.isFinite(above)) return false;
    const estimate = await estimatedRows(client);
    if (estimate !== undefined && estimate > above) return true;
    const counted = await client.query<[string]>({ text: 'SELECT count(*) FROM ferry_records WHERE type = ANY($1::int8[])', values: [later], rowMode: 'array' });
    return Number(counted.rows[0]?.[0] ?? 0) > above;
  }

  /**
   * Reads the rows of every type but `later` (through their index), and returns them with the rest
   * to come in `later`, read in the background in the same snapshot while the store takes appends.
   * A prepared transaction (it may hold rows of every type) has everything read now instead.
   */
  private async recoverFirst(client: PoolClient, keep: OpenOptions['keep'], later: readonly number[]): Promise<RecoveredState> {
    const records: StoreRecord[] = [];
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const first = await client.query<[string, string, string, Buffer]>({ text: `SELECT id, seq, type, data FROM ferry_records WHERE ${firstRowsCondition(later)} ORDER BY seq`, rowMode: 'array' });
      for (const [id, , type, data] of first.rows) {
        const record = { id: Number(id), type: Number(type), data };
        records.push(record);
        this.live.set(record.id, data.length);
        this.liveBytes += data.length;
      }
      const preparedRows = await client.query<[string]>({ text: 'SELECT count(*) FROM ferry_prepared', rowMode: 'array' });
      if (Number(preparedRows.rows[0]?.[0] ?? 0) > 0) {
        await client.query('ROLLBACK');
        this.live.clear();
        this.liveBytes = 0;
        const state = await this.recover(client, keep);
        this.checkIn(client);
        this.phase = 'open';
        return state;
      }
      const meta = await client.query<[string, string]>({ text: "SELECT key, value FROM ferry_meta WHERE key IN ('max_id', 'next_seq')", rowMode: 'array' });
      for (const [key, value] of meta.rows) {
        if (key === 'max_id') this.maxIdWritten = Number(value);
        else this.nextSeq = Math.max(this.nextSeq, Number(value));
      }
      this.maxId = this.maxIdWritten;
      for (const r of records) if (r.id > this.maxId) this.maxId = r.id;
      const maxId = this.maxId;
      this.phase = 'open';
      const rest = this.recoverLater(client, keep, later, maxId);
      rest.catch(() => undefined);
      return { records, prepared: [], maxId, later: rest };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /**
   * The rows of the types `later` with ids up to `maxId`, read through a cursor in the snapshot the
   * open began, in id order; the store stops reading if it closes. A connection that fails on the
   * way (dropped, the server restarting) is replaced, after the commits' delays, and the reading
   * goes on after the last id read. A later snapshot holds the same rows past that id as the open's:
   * every row there at the open has an id up to `maxId` (each commit raises `max_id` with its rows),
   * every row written since has a higher one (ids come after `maxId`), and nothing updates or
   * deletes a record of these types before it is handed back, since the broker does not know it yet.
   */
  private async recoverLater(opened: PoolClient, keep: OpenOptions['keep'], later: readonly number[], maxId: number): Promise<StoreRecord[]> {
    const records: StoreRecord[] = [];
    const lengths: number[] = [];
    const copies = new CopySlab();
    let lastId = -1;
    let failedReads = 0;
    let retryDelay = RETRY_FIRST;
    let client: PoolClient | undefined = opened;
    // the open's turn ends first: the broker serves before the rest is read
    await new Promise((resolve) => setImmediate(resolve));
    for (;;) {
      try {
        if (client === undefined) {
          client = await this.checkOut();
          await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        }
        await client.query({
          text: 'DECLARE ferry_later NO SCROLL CURSOR FOR SELECT id, type, data FROM ferry_records WHERE type = ANY($1::int8[]) AND id > $2 AND id <= $3 ORDER BY id',
          values: [later, lastId, maxId],
        });
        for (;;) {
          if (this.phase !== 'open') throw this.closedWhileReading();
          const batch = await client.query<[string, string, Buffer]>({ text: `FETCH ${RECOVERY_FETCH} FROM ferry_later`, rowMode: 'array' });
          for (const [id, type, data] of batch.rows) {
            records.push(keptRecord(id, type, data, keep, copies));
            lengths.push(data.length);
          }
          if (batch.rows.length > 0) lastId = records[records.length - 1]!.id;
          if (batch.rows.length < RECOVERY_FETCH) break;
        }
        await client.query('COMMIT');
        this.checkIn(client);
        break;
      } catch (err) {
        if (client !== undefined) {
          await client.query('ROLLBACK').catch(() => undefined);
          this.checkIn(client, err);
          client = undefined;
        }
        if (this.phase !== 'open') throw isFerryError(err) ? err : this.closedWhileReading();
        failedReads++;
        this.failedLoads++;
        const retryIn = retryDelay;
        retryDelay = Math.min(RETRY_MAX, retryDelay * 2);
        this.onEvent?.({ event: 'postgres.load-failed', error: err instanceof Error ? err.message : String(err), recordsRead: records.length, retryIn });
        await new Promise((resolve) => setTimeout(resolve, retryIn).unref());
      }
    }
    if (failedReads > 0) this.onEvent?.({ event: 'postgres.load-resumed', failedReads, records: records.length });
    // nothing deletes or updates a record before it is handed back, so each read is live
    for (let i = 0; i < records.length; i++) {
      const id = records[i]!.id;
      if (this.live.has(id)) continue;
      this.live.set(id, lengths[i]!);
      this.liveBytes += lengths[i]!;
    }
    return records;
  }

  private async recover(client: PoolClient, keep: OpenOptions['keep']): Promise<RecoveredState> {
    const records: StoreRecord[] = [];
    const copies = new CopySlab();
    // one snapshot for everything read, and a cursor so that a large backlog does not arrive as one result
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      await client.query('DECLARE ferry_recovery NO SCROLL CURSOR FOR SELECT id, seq, type, data FROM ferry_records ORDER BY seq');
      for (;;) {
        const batch = await client.query<[string, string, string, Buffer]>({ text: `FETCH ${RECOVERY_FETCH} FROM ferry_recovery`, rowMode: 'array' });
        for (const [id, seq, type, data] of batch.rows) {
          const record = keptRecord(id, type, data, keep, copies);
          records.push(record);
          this.live.set(record.id, data.length);
          this.liveBytes += data.length;
          if (record.id > this.maxId) this.maxId = record.id;
          this.nextSeq = Math.max(this.nextSeq, Number(seq) + 1);
        }
        if (batch.rows.length < RECOVERY_FETCH) break;
      }
      await client.query('CLOSE ferry_recovery');
      const preparedRows = await client.query<[string, Buffer, Buffer]>({ text: 'SELECT tx_id, data, operations FROM ferry_prepared ORDER BY tx_id', rowMode: 'array' });
      const meta = await client.query<[string]>({ text: "SELECT value FROM ferry_meta WHERE key = 'max_id'", rowMode: 'array' });
      await client.query('COMMIT');
      const prepared: PreparedTransaction[] = [];
      for (const [id, data, encoded] of preparedRows.rows) {
        const txId = Number(id);
        const operations = decodeOperations(txId, encoded);
        prepared.push({ txId, data, operations });
        // kept, so that a commit or rollback after the restart finds it
        this.transactions.set(txId, { operations: [...operations], prepared: true });
        if (txId > this.maxId) this.maxId = txId;
      }
      this.maxIdWritten = Number(meta.rows[0]?.[0] ?? 0);
      this.maxId = Math.max(this.maxId, this.maxIdWritten);
      return { records, prepared, maxId: this.maxId };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private put(id: number, type: number, data: Buffer, add: boolean): void {
    const old = this.live.get(id);
    // as in the other stores, an update of a record that is not live is ignored
    if (old === undefined && !add) return;
    this.live.set(id, data.length);
    this.liveBytes += data.length - (old ?? 0);
    this.pending.putRecord(id, type, data, this.nextSeq++, old === undefined);
    this.appended();
  }

  private remove(id: number): void {
    const old = this.live.get(id);
    if (old === undefined) return;
    this.live.delete(id);
    this.liveBytes -= old;
    this.pending.deleteRecord(id);
    this.appended();
  }

  private transaction(txId: number): OpenTransaction {
    let tx = this.transactions.get(txId);
    if (tx === undefined) {
      tx = { operations: [], prepared: false };
      this.transactions.set(txId, tx);
    }
    return tx;
  }

  private appended(): void {
    this.appendSeq++;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushing !== undefined || this.flushScheduled || this.retryTimer !== undefined) return;
    this.flushScheduled = true;
    // setImmediate, not a microtask: every append of this turn of the event loop (all the sockets
    // read in it) joins the same commit
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  private flush(): Promise<void> {
    this.flushing ??= this.commitPending().finally(() => {
      this.flushing = undefined;
      // appended while the last commit was finishing, with no one left to take it
      if (this.appendSeq !== this.durableSeq && this.retryTimer === undefined && this.phase !== 'closed') this.scheduleFlush();
    });
    return this.flushing;
  }

  private async commitPending(): Promise<void> {
    while (this.appendSeq !== this.durableSeq && this.retryTimer === undefined && this.phase !== 'closed') {
      const batch = this.pending;
      const seq = this.appendSeq;
      const maxId = this.maxId;
      this.pending = new PendingBatch();
      this.batchesTaken++;
      if (batch.empty && maxId <= this.maxIdWritten) {
        this.durable(seq);
        continue;
      }
      this.committing = batch;
      let client: PoolClient | undefined;
      let backend: Backend | undefined;
      try {
        this.guard?.();
        client = await this.checkOut();
        await this.endUnended(client);
        backend = await this.backendOf(client);
        await commitBatch(client, batch, maxId, this.nextSeq);
        this.checkIn(client);
      } catch (err) {
        if (client !== undefined) this.checkIn(client, err);
        // closing the connection does not stop the server's process, which may still commit the batch
        if (backend !== undefined) this.unended = backend;
        this.committing = undefined;
        this.failed(batch, err);
        return;
      }
      this.committing = undefined;
      this.maxIdWritten = Math.max(this.maxIdWritten, maxId);
      this.durable(seq);
    }
  }

  /**
   * Ends the server process of the last failed commit and waits until it has gone, so that no commit
   * runs beside it. A client that gives up on a commit (its time limit, a dropped connection) only
   * closes its socket: a server process waiting on a lock, or for a synchronous standby (where the
   * transaction has committed locally and no statement_timeout applies), does not notice, and may
   * commit later. A retry running meanwhile takes its snapshot first, so its deletes miss the rows
   * the old commit then writes, and acknowledged messages come back at the next start. A process
   * leaves pg_stat_activity only after its transaction has ended, committed or rolled back; every
   * later snapshot sees the outcome, and the retry's changes are idempotent, so either way the rows
   * end as the broker has them. A server that restarted or failed over has no such process any more.
   */
  private async endUnended(client: PoolClient): Promise<void> {
    const backend = this.unended;
    if (backend === undefined) return;
    const deadline = Date.now() + this.queryTimeout;
    for (let pause = 1; ; pause = Math.min(UNENDED_POLL_MAX, pause * 2)) {
      const alive = await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2::timestamptz', [backend.pid, backend.started]);
      if (alive.rowCount === 0) break;
      if (Date.now() > deadline) throw new FerryError('FERRY_STORE_FAILED', `the PostgreSQL server process ${backend.pid} of a failed commit has not ended`);
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
    this.unended = undefined;
  }

  /** The server process behind `client`, asked once per connection. */
  private async backendOf(client: PoolClient): Promise<Backend> {
    let backend = this.backends.get(client);
    if (backend === undefined) {
      const result = await client.query<{ pid: number; started: string }>('SELECT pid, backend_start::text AS started FROM pg_stat_activity WHERE pid = pg_backend_pid()');
      const row = result.rows[0];
      if (row === undefined) throw new FerryError('FERRY_STORE_FAILED', 'the PostgreSQL connection is not in pg_stat_activity');
      backend = { pid: row.pid, started: row.started };
      this.backends.set(client, backend);
    }
    return backend;
  }

  /**
   * A connection of the pool's, for a sequence of statements. The pool listens for a connection's
   * errors only while it is idle; one that drops between two statements while it is checked out
   * would otherwise be an unhandled 'error' and end the process. The next statement then fails.
   */
  private async checkOut(): Promise<PoolClient> {
    const client = await this.pool.connect();
    client.on('error', ignoreBetweenStatements);
    return client;
  }

  /** Gives a connection back; one that failed (`err`) is closed rather than reused. */
  private checkIn(client: PoolClient, err?: unknown): void {
    client.off('error', ignoreBetweenStatements);
    client.release(err === undefined ? undefined : err instanceof Error ? err : true);
  }

  private durable(seq: number): void {
    this.durableSeq = seq;
    if (this.failedBatches > 0) {
      this.onEvent?.({ event: 'postgres.recovered', failedBatches: this.failedBatches });
      this.failedBatches = 0;
    }
    this.retryDelay = RETRY_FIRST;
    this.failure = undefined;
    this.failingSince = undefined;
    let n = 0;
    while (n < this.waiters.length && this.waiters[n]!.seq <= seq) this.waiters[n++]!.resolve();
    if (n > 0) this.waiters.splice(0, n);
  }

  private failed(batch: PendingBatch, err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    // the commit may have reached the disk before the connection went: send it again with what came since
    batch.unsure();
    batch.absorb(this.pending);
    this.pending = batch;
    this.failedBatches++;
    this.failedCommits++;
    this.failingSince ??= Date.now();
    // its syncs wait for the batch to go in on a retry, or for the store to close; those that give up do not
    this.failure = new FerryError('FERRY_STORE_FAILED', `PostgreSQL is not committing (${reason}); persistent messages are refused until it does`, { cause: err });
    const givingUp = this.waiters.filter((waiter) => waiter.givesUp);
    if (givingUp.length > 0) {
      this.waiters = this.waiters.filter((waiter) => !waiter.givesUp);
      for (const waiter of givingUp) waiter.reject(this.failure);
    }
    const retryIn = this.retryDelay;
    this.retryDelay = Math.min(RETRY_MAX, this.retryDelay * 2);
    this.onEvent?.({ event: 'postgres.failed', error: reason, retryIn });
    if (this.phase !== 'open') return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.appendSeq !== this.durableSeq) void this.flush();
    }, retryIn);
    this.retryTimer.unref();
  }

  private check(id: number, type: number, txId: number | undefined): void {
    this.assertWritable();
    if (!Number.isSafeInteger(id) || id < 0) throw new FerryError('FERRY_STORE_FAILED', `record and transaction ids are non-negative integers, not ${id}`);
    if (txId !== undefined && (!Number.isSafeInteger(txId) || txId < 0)) throw new FerryError('FERRY_STORE_FAILED', `record and transaction ids are non-negative integers, not ${txId}`);
    if (!Number.isInteger(type) || type < 0 || type > 0xffff_ffff) throw new FerryError('FERRY_STORE_FAILED', `record types are 32-bit unsigned integers, not ${type}`);
    if (id > this.maxId) this.maxId = id;
    if (txId !== undefined && txId > this.maxId) this.maxId = txId;
  }

  private assertWritable(): void {
    if (this.phase !== 'open') throw this.notOpen();
  }

  private closedWhileReading(): FerryError {
    return new FerryError('FERRY_STORE_FAILED', 'the PostgreSQL store closed while it read the waiting messages back');
  }

  private notOpen(): FerryError {
    return new FerryError('FERRY_STORE_FAILED', `the PostgreSQL store is ${this.phase === 'new' ? 'not open yet' : 'closed'}`);
  }
}

/**
 * A recovered row as a record: with `keep`, only a prefix stays, and every record is copied (a
 * small row's buffer is a slice of a pooled one shared with its neighbours, whose bodies would
 * otherwise stay in memory through it).
 */
function keptRecord(id: string, type: string, data: Buffer, keep: OpenOptions['keep'], copies: CopySlab): StoreRecord {
  if (keep === undefined) return { id: Number(id), type: Number(type), data };
  const kept = Math.min(data.length, keep(Number(type), data, 0, data.length));
  return { id: Number(id), type: Number(type), data: copies.copy(data, 0, kept) };
}
