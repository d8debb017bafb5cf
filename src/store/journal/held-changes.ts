import type { JournalLedger } from './ledger.js';

/**
 * The ledger changes held back while the journal is replayed in the background after opening from
 * its catalog. Appends go on meanwhile, each written at once; its ledger change is made at once
 * too when it is about a record appended since the journal opened. One about an older record (a
 * queue deleted, a duplicate id forgotten) waits for the replay that brings the record back, as
 * does everything later in the same transaction: applied in order once the replay is over, they
 * leave the ledger as one replay of the whole journal would.
 */
export class HeldChanges {
  private readonly changes: ((ledger: JournalLedger) => void)[] = [];
  /** Transactions with a change held: the rest of each is held too. */
  private readonly transactions = new Set<number>();

  constructor(
    /** Highest id used before the journal opened. */
    private readonly openedAt: number,
  ) {}

  /** True when the change to record `id` (in transaction `txId`) must wait. */
  holds(id: number, txId?: number): boolean {
    if (txId !== undefined && this.transactions.has(txId)) return true;
    if (id > this.openedAt) return false;
    if (txId !== undefined) this.transactions.add(txId);
    return true;
  }

  /** True when transaction `txId` has changes held: its prepare, commit or rollback waits with them. */
  holdsTransaction(txId: number): boolean {
    return this.transactions.has(txId);
  }

  hold(change: (ledger: JournalLedger) => void): void {
    this.changes.push(change);
  }

  applyTo(ledger: JournalLedger): void {
    for (const change of this.changes) change(ledger);
    this.changes.length = 0;
    this.transactions.clear();
  }
}
