/** `<connection id>:<session>:<producer>:<sequence>`, the text of a JMS producer's message id. */
const PRODUCER_MESSAGE_ID = /^(.+:\d+:\d+):(\d+)$/;

/**
 * The highest message sequence taken from each JMS producer. A producer numbers its messages in
 * order, and after a failover its client resends every message the broker had not confirmed: one
 * the broker had already taken is then a duplicate, dropped here (and confirmed again). Kept in
 * memory, for the latest producers. After a broker restart it starts from the messages the broker
 * recovered (`seed`), so a message taken but not confirmed before the broker died is not taken twice
 * while it still waits; one already consumed before the crash is no longer known, as in ActiveMQ.
 */
export class ProducerAudit {
  private readonly highest = new Map<string, number>();

  constructor(private readonly maxProducers = 65_536) {}

  /** Learns the producers and sequences of messages the broker already holds, from their ids. */
  seed(messageIds: Iterable<string>): void {
    for (const id of messageIds) {
      const match = PRODUCER_MESSAGE_ID.exec(id);
      if (match === null) continue;
      const producer = match[1]!;
      const sequence = Number(match[2]);
      const last = this.highest.get(producer);
      if (last === undefined || sequence > last) this.highest.set(producer, sequence);
    }
    while (this.highest.size > this.maxProducers) this.highest.delete(this.highest.keys().next().value as string);
  }

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
