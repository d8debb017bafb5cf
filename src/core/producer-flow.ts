/** What producer flow control needs of a queue (`MessageQueue` is one). */
export interface HoldingQueue {
  /** True when a consumer of that connection takes from the queue. */
  consumedBy(connectionId: string): boolean;
  /** Resolves once the queue has room again. */
  whenRoom(): Promise<void>;
}

/**
 * Producer flow control (a queue's `memoryPolicy: block`). A send is always taken; a queue that it
 * leaves at its memoryLimit notes itself here while the send is routed, and the session that sent
 * picks it up at once (`CoreSession.roomAfterSend`): the adapter then holds that producer's next
 * sends until the queue has room (STOMP, MQTT and AMQP 0-9-1 stop reading its socket, AMQP 1.0
 * withholds its link's credit, OpenWire its producer window). Only the producers of the full
 * queue wait; the broker and every other destination go on.
 *
 * Routing is synchronous and one send is routed at a time, so one slot is enough.
 */
export class ProducerFlow {
  private full: HoldingQueue | undefined;

  /** A queue that the send being routed left at its limit. The first one is kept. */
  filled(queue: HoldingQueue): void {
    this.full ??= queue;
  }

  /**
   * What the send just routed means for its producer on connection `connectionId`: undefined when it
   * may go on, otherwise resolves when the queue it filled has room again. A producer that also
   * consumes from that queue is not held: it would wait on its own acknowledgements, which it could
   * no longer send once its socket stops being read.
   */
  take(connectionId: string): Promise<void> | undefined {
    const queue = this.full;
    this.full = undefined;
    if (queue === undefined || queue.consumedBy(connectionId)) return undefined;
    return queue.whenRoom();
  }

  /** Forgets a queue noted by a send that then failed. */
  clear(): void {
    this.full = undefined;
  }
}
