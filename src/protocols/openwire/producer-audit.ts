import type { SequenceMarkBook } from '../../core/index.js';

/** `<connection id>:<session>:<producer>:<sequence>`, the text of a JMS producer's message id. */
const PRODUCER_MESSAGE_ID = /^(.+:\d+:\d+):(\d+)$/;

/**
 * The highest message sequence taken from each JMS producer. A producer numbers its messages in
 * order, and after a failover its client resends every message the broker had not confirmed: one
 * the broker had already taken is then a duplicate, dropped here (and confirmed again). Kept for
 * the latest producers, in memory and in the broker's sequence marks (`keepIn`), so it survives a
 * restart: after a crash it starts from the marks and from the messages the broker recovered
 * (`seed`), and a message taken before the broker died is not taken twice, whether it still waits
 * or was consumed before the crash.
 */
export class ProducerAudit {
  private readonly highest = new Map<string, number>();
  private book: SequenceMarkBook | undefined;

  constructor(private readonly maxProducers = 65_536) {}

  /** Learns what the marks kept before a restart, and keeps the audit in them from now on. */
  keepIn(book: SequenceMarkBook): void {
    for (const [producer, sequence] of book.entries()) this.raise(producer, sequence);
    this.book = book;
    this.trim();
  }

  /** Learns the producers and sequences of messages the broker already holds, from their ids. */
  seed(messageIds: Iterable<string>): void {
    for (const id of messageIds) {
      const match = PRODUCER_MESSAGE_ID.exec(id);
      if (match !== null) this.raise(match[1]!, Number(match[2]));
    }
    this.trim();
  }

  /** False for a resend of a message already taken. */
  isNew(producer: string, sequence: number): boolean {
    const last = this.highest.get(producer);
    return last === undefined || sequence > last;
  }

  /**
   * The message was taken. `stored`: its own records are appended, so its mark may follow them. A
   * message that is not stored (non-persistent) moves only the audit in memory: a crash loses it
   * anyway, and a mark written for each one was a journal record per message for nothing.
   */
  taken(producer: string, sequence: number, stored: boolean): void {
    if (!this.raise(producer, sequence)) return;
    if (stored) this.book?.set(producer, sequence);
    this.trim();
  }

  /** The producer closed cleanly: its client resends nothing of it, so it need not be remembered. */
  forget(producer: string): void {
    this.highest.delete(producer);
    this.book?.delete(producer);
  }

  private raise(producer: string, sequence: number): boolean {
    const last = this.highest.get(producer);
    if (last !== undefined && sequence <= last) return false;
    this.highest.set(producer, sequence);
    return true;
  }

  /** The oldest producer first seen goes first when full: a producer still sending then only loses its failover check. */
  private trim(): void {
    while (this.highest.size > this.maxProducers) {
      const oldest = this.highest.keys().next().value as string;
      this.highest.delete(oldest);
      this.book?.delete(oldest);
    }
  }
}
