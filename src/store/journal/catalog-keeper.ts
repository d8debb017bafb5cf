import type { StoreRecord } from '../store.js';
import { writeCatalog, type Catalog, type CatalogRecord, type EarlyTxOp, EarlyRecords } from './catalog.js';
import type { JournalContext } from './context.js';
import type { JournalWriter } from './writer.js';

/**
 * Keeps the journal's catalog (see `catalog.ts`) when its owner said which record types it needs
 * first: follows every append's effect on the early records, and writes the catalog every
 * `every` bytes written and when the journal closes. The interval bounds what an open from the
 * catalog reads before serving (the journal after the catalog's position), while a catalog (a few
 * bytes per queue, subscription or duplicate id) costs little next to it.
 */
export class CatalogKeeper {
  /** The early records, once they are all known (undefined: no catalog is kept). */
  private records: EarlyRecords | undefined;
  /** Known but not complete yet: what recovery hands back is still being added. */
  private complete = false;
  private sinceLast = 0;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly journal: JournalContext,
    private readonly writer: JournalWriter,
    /** Journal bytes written between two catalogs; 0 keeps none. */
    private readonly every: number,
  ) {}

  /** False when no catalog is kept (`every` 0). */
  get kept(): boolean {
    return this.every > 0;
  }

  /** The early records followed from now on; `complete` once they hold every live one. */
  follow(records: EarlyRecords, complete: boolean): void {
    this.records = records;
    this.complete = complete;
  }

  /** What appends change, when a catalog is kept. */
  get early(): EarlyRecords | undefined {
    return this.records;
  }

  /** Every early record is now known. */
  completed(): void {
    this.complete = true;
  }

  /**
   * The records a full replay hands back, passed through, each early one added to those followed
   * (unless an append since changed it): they are complete once the last is taken.
   */
  *collect(stream: Iterable<StoreRecord>): Generator<StoreRecord> {
    const records = this.records;
    for (const record of stream) {
      if (records !== undefined && records.early(record.type) && !records.records.has(record.id)) {
        records.records.set(record.id, { type: record.type, data: Buffer.from(record.data) });
      }
      yield record;
    }
    this.complete = true;
  }

  /** `bytes` more were written: a catalog is due past `every`. */
  written(bytes: number): void {
    if (this.records === undefined) return;
    this.sinceLast += bytes;
    if (this.sinceLast < this.every || !this.complete || this.journal.loading || this.writing !== undefined) return;
    this.write().catch((err: unknown) => this.journal.emit({ event: 'journal.catalog.failed', error: (err as Error).message }));
  }

  /** Writes a catalog of the journal as it is now, once everything appended so far is on disk. */
  write(): Promise<void> {
    if (this.writing !== undefined) return this.writing;
    const catalog = this.snapshot();
    if (catalog === undefined) return Promise.resolve();
    this.sinceLast = 0;
    const journal = this.journal;
    const run = this.writer.sync().then(() => writeCatalog(journal.fs, journal.dir, catalog, journal.syncOnWrite));
    this.writing = run.finally(() => (this.writing = undefined));
    return this.writing;
  }

  /** Resolves once no catalog is being written. */
  settled(): Promise<void> {
    return this.writing?.catch(() => undefined) ?? Promise.resolve();
  }

  private snapshot(): Catalog | undefined {
    const journal = this.journal;
    const early = this.records;
    const current = journal.current;
    if (early === undefined || !this.complete || journal.loading || current === undefined) return undefined;
    const table = journal.ledger.records;
    const records: CatalogRecord[] = [];
    for (const [id, record] of early.records) {
      const row = table.rowOf(id);
      if (row < 0) {
        // never expected: the catalog would bring back a record the journal does not hold
        journal.emit({ event: 'journal.catalog.skipped', reason: `early record ${id} is not in the ledger` });
        return undefined;
      }
      records.push({ id, type: record.type, data: record.data, anchorSeg: table.anchorSegs[row]!, anchorCommit: table.anchorCommits[row]! });
    }
    const transactions = new Map<number, readonly EarlyTxOp[]>();
    for (const [txId, ops] of early.transactions) transactions.set(txId, [...ops]);
    return {
      position: { segment: current.number, offset: current.size },
      prepared: early.prepared.size > 0,
      maxId: Math.max(journal.ledger.maxId, journal.recoveredMaxId),
      lateRecords: table.size - records.length,
      records,
      transactions,
    };
  }
}
