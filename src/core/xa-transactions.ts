import { FerryError } from '../errors.js';
import { Transaction } from './transaction.js';

/** A connection's part in an XA transaction, as the transaction sees it. */
export interface XaMember {
  /**
   * The transaction is about to prepare or commit (`keep` true) or is rolling back: the member hands
   * over what its protocol holds back for it until then, or drops that.
   */
  settleTransaction(txId: string, keep: boolean): void;
  /** The transaction is no longer open: the member stops naming it. */
  forgetTransaction(txId: string): void;
}

interface OpenXa {
  readonly tx: Transaction;
  /** The connection that began it: its close rolls the transaction back, as ActiveMQ's does. */
  readonly owner: XaMember;
  readonly members: Set<XaMember>;
}

/**
 * XA transactions begun and not yet prepared, committed or rolled back, by their Xid: the broker's,
 * not a connection's. A transaction manager may have several connections work in one (a join: the
 * same Xid begun on each, as ActiveMQ's client does for TMJOIN) and completes it through any of them,
 * so every member's work prepares, commits or rolls back together.
 */
export class XaTransactions {
  private readonly open = new Map<string, OpenXa>();

  /** Begins transaction `xid` with `member` as its owner, or adds `member` to it when it is open already. */
  begin(xid: string, member: XaMember): Transaction {
    const found = this.open.get(xid);
    if (found !== undefined) {
      found.members.add(member);
      return found.tx;
    }
    const tx = new Transaction(xid);
    this.open.set(xid, { tx, owner: member, members: new Set([member]) });
    return tx;
  }

  /** The open transaction `xid`, if any. */
  get(xid: string): Transaction | undefined {
    return this.open.get(xid)?.tx;
  }

  /**
   * Every member hands over what it holds back for the transaction (see `XaMember.settleTransaction`),
   * which is about to prepare or commit; it stays open until `end`, so a prepare the broker refuses
   * leaves it as it was.
   */
  collect(xid: string): Transaction {
    const found = this.required(xid);
    for (const member of found.members) member.settleTransaction(xid, true);
    return found.tx;
  }

  /** The transaction is over (prepared, committed or rolled back): no member names it any more; rolling back, each drops what it held first. */
  end(xid: string, rollingBack: boolean): Transaction {
    const found = this.required(xid);
    this.open.delete(xid);
    for (const member of found.members) {
      if (rollingBack) member.settleTransaction(xid, false);
      member.forgetTransaction(xid);
    }
    return found.tx;
  }

  /**
   * `member` is closing: it leaves the transaction `xid`, which goes on for the others; returns true
   * when it began it, and the transaction is then to be rolled back (`end`).
   */
  leave(xid: string, member: XaMember): boolean {
    const found = this.open.get(xid);
    if (found === undefined) return false;
    if (found.owner === member) return true;
    found.members.delete(member);
    return false;
  }

  private required(xid: string): OpenXa {
    const found = this.open.get(xid);
    if (found === undefined) throw new FerryError('FERRY_TX_NOT_FOUND', `transaction "${xid}" was not begun, or has already ended`);
    return found;
  }
}
