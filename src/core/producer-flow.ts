/** What producer flow control needs of a queue (`MessageQueue` is one). */
export interface HoldingQueue {
  /** True when a consumer of that connection takes from the queue. */
  consumedBy(connectionId: string): boolean;
  /** Resolves once the queue has room again. */
  whenRoom(): Promise<void>;
}

/**
 * Producer flow control (a queue's `memoryPolicy: block`). A send is always taken; each queue that it
 * leaves at its memoryLimit notes itself here while the send is routed, and the session that sent
 * picks them up at once (`CoreSession.roomAfterSend`): the adapter then holds that producer's next
 * sends until those queues have room (STOMP, MQTT and AMQP 0-9-1 stop reading its socket, AMQP 1.0
 * withholds its link's credit, OpenWire its producer window). Only the producers of the full
 * queues wait; the broker and every other destination go on.
 *
 * Routing is synchronous and one send (or commit) is routed at a time, so one set is enough.
 */
export class ProducerFlow {
  private readonly full = new Set<HoldingQueue>();

  /** A queue that the send being routed left at its limit: a topic's send may fill several subscriptions. */
  filled(queue: HoldingQueue): void {
    this.full.add(queue);
  }

  /**
   * What the send just routed means for its producer on connection `connectionId`: undefined when it
   * may go on, otherwise resolves when every queue it filled has had room again. A queue the
   * producer's own connection consumes from does not hold it: it would wait on its own
   * acknowledgements, which it could no longer send once its socket stops being read. Any other full
   * queue does, whichever the send reached first.
   */
  take(connectionId: string): Promise<void> | undefined {
    if (this.full.size === 0) return undefined;
    const holding: Promise<void>[] = [];
    for (const queue of this.full) if (!queue.consumedBy(connectionId)) holding.push(queue.whenRoom());
    this.full.clear();
    if (holding.length <= 1) return holding[0];
    return Promise.all(holding).then(() => undefined);
  }

  /** Forgets the queues noted by a send that then failed. */
  clear(): void {
    // called for every send: clearing an empty Set still makes it a new table
    if (this.full.size > 0) this.full.clear();
  }
}
