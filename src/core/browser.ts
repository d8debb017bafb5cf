import type { ConsumerHandle } from './access.js';
import { isExpired } from './message.js';
import type { QueueEntry } from './queue-entry.js';
import type { Selector } from './selector/index.js';
import type { DeliverySink } from './sink.js';

/**
 * A browser on a queue (JMS QueueBrowser, STOMP `browser:true`, AMQP distribution-mode `copy`): it
 * walks the entries that were waiting when it opened and hands each to its sink like a delivery,
 * as fast as the sink's credit and socket allow, and consumes nothing. It holds references to
 * entries, not copies of messages; an entry consumed meanwhile is skipped.
 */
export class QueueBrowser implements ConsumerHandle {
  readonly ackMode = 'auto' as const;
  readonly inFlightCount = 0;
  private next = 0;
  private nextTag = 1;
  private closed = false;
  private ended = false;
  private waitingForWritable = false;

  constructor(
    readonly id: number,
    private readonly entries: readonly QueueEntry[],
    private readonly sink: DeliverySink,
    private readonly selector: Selector | undefined,
    private readonly clock: () => number,
    private readonly onClose: () => void,
  ) {
    // like a consumer, the first delivery comes after `subscribe` has returned to the adapter
    queueMicrotask(() => this.pump());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  acknowledge(): void {}
  acknowledgeOnly(): void {}
  reject(): void {}
  written(): null {
    return null;
  }
  rejectOnly(): void {}
  redeliver(): void {}
  release(): void {}

  extend(): boolean {
    return false;
  }

  tagOf(): number | undefined {
    return undefined;
  }

  wake(): void {
    this.pump();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }

  private pump(): void {
    const now = this.clock();
    while (!this.closed && this.next < this.entries.length) {
      if (this.sink.hasCredit !== undefined && !this.sink.hasCredit()) return;
      if (!this.sink.isWritable()) {
        if (!this.waitingForWritable) {
          this.waitingForWritable = true;
          this.sink.onWritable(() => {
            this.waitingForWritable = false;
            this.pump();
          });
        }
        return;
      }
      const entry = this.entries[this.next++]!;
      if (entry.gone || isExpired(entry.message, now)) continue;
      if (this.selector !== undefined && !this.selector.matches(entry.message, { deliveryCount: entry.deliveryCount })) continue;
      this.sink.deliver({ message: entry.message, tag: this.nextTag++, deliveryCount: entry.deliveryCount, redelivered: entry.redelivered });
    }
    if (this.closed || this.ended) return;
    this.ended = true;
    this.sink.browseEnd?.();
  }
}
