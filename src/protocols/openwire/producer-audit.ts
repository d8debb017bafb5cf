/**
 * The highest message sequence taken from each JMS producer. A producer numbers its messages in
 * order, and after a failover its client resends every message the broker had not confirmed: one
 * the broker had already taken is then a duplicate, dropped here (and confirmed again). Kept in
 * memory, for the latest producers: it covers a client that reconnects to a broker
 * that stayed up; after a broker restart the audit starts empty.
 */
export class ProducerAudit {
  private readonly highest = new Map<string, number>();

  constructor(private readonly maxProducers = 65_536) {}

  /** True when the message is new (and now remembered), false for a resend of one already taken. */
  accept(producer: string, sequence: number): boolean {
    const last = this.highest.get(producer);
    if (last !== undefined && sequence <= last) return false;
    // the oldest producer first seen goes first when full: a producer still sending then only loses its failover check
    this.highest.set(producer, sequence);
    if (this.highest.size > this.maxProducers) this.highest.delete(this.highest.keys().next().value as string);
    return true;
  }
}
