import type { ConsumerHandle } from './access.js';
import type { BodyCache } from './body-cache.js';
import { bodyLengthOf, isExpired, type Message } from './message.js';
import type { QueueEntry } from './queue-entry.js';
import type { Selector } from './selector/index.js';
import type { DeliverySink } from './sink.js';

/** Bodies read back ahead of a browse, at most. */
const BROWSE_READ_ENTRIES = 200;
const BROWSE_READ_BYTES = 4 * 1024 * 1024;
/** A read that failed (the database away) is tried again after this long. */
const BROWSE_RETRY_MS = 1000;

/**
 * A browser on a queue (JMS QueueBrowser, STOMP `browser:true`, AMQP distribution-mode `copy`): it
 * walks the entries that were in the queue when it opened, waiting or in flight to a consumer
 * unacknowledged (as ActiveMQ's browser shows them), in queue order, and hands each to its sink
 * like a delivery, as fast as the sink's credit and socket allow; it consumes nothing and leaves
 * every delivery as it is. It holds references to entries, not copies of messages; an entry
 * consumed meanwhile is skipped.
 *
 * A body that waits in a store that reads asynchronously only is read back ahead, with the next
 * ones, into copies of their messages that the body cache does not keep: a browse of a long queue
 * does not fill memory.
 */
export class QueueBrowser implements ConsumerHandle {
  readonly ackMode = 'auto' as const;
  readonly inFlightCount = 0;
  /** A browser says it has passed the end through `browseEnd`. */
  readonly waitsOnStore = false;
  private next = 0;
  private nextTag = 1;
  private closed = false;
  private ended = false;
  private waitingForWritable = false;
  /** Copies of the next entries' messages with their bodies read back, and whether a read is under way. */
  private readonly loaded = new Map<QueueEntry, Message>();
  private loading = false;

  constructor(
    readonly id: number,
    private readonly entries: readonly QueueEntry[],
    private readonly sink: DeliverySink,
    private readonly selector: Selector | undefined,
    private readonly clock: () => number,
    private readonly onClose: () => void,
    private readonly bodies: BodyCache,
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
  expire(): void {}
  redeliver(): void {}
  release(): void {}
  refuse(): void {}

  extend(): boolean {
    return false;
  }

  tagOf(): number | undefined {
    return undefined;
  }

  wake(): void {
    this.pump();
  }

  /** A browser holds nothing in flight: it just ends. */
  stopConsuming(): void {
    this.close();
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
      const entry = this.entries[this.next]!;
      if (entry.gone || isExpired(entry.message, now) || (this.selector !== undefined && !this.selector.matches(entry.message, { deliveryCount: entry.deliveryCount }))) {
        this.next++;
        this.loaded.delete(entry);
        continue;
      }
      let message = entry.message;
      if (this.bodies.mustReadFirst(message)) {
        const copy = this.loaded.get(entry);
        if (copy === undefined) {
          this.load();
          return;
        }
        this.loaded.delete(entry);
        message = copy;
      }
      this.next++;
      this.sink.deliver({ message, tag: this.nextTag++, deliveryCount: entry.deliveryCount, redelivered: entry.redelivered });
    }
    if (this.closed || this.ended) return;
    this.ended = true;
    this.sink.browseEnd?.();
  }

  /** Reads back the bodies of the next entries that wait on disk, then goes on. */
  private load(): void {
    if (this.loading) return;
    const wanted: QueueEntry[] = [];
    let bytes = 0;
    for (let i = this.next; i < this.entries.length && wanted.length < BROWSE_READ_ENTRIES && bytes < BROWSE_READ_BYTES; i++) {
      const entry = this.entries[i]!;
      if (entry.gone || !this.bodies.mustReadFirst(entry.message) || this.loaded.has(entry)) continue;
      wanted.push(entry);
      bytes += bodyLengthOf(entry.message);
    }
    this.loading = true;
    this.bodies.withBodies(wanted.map((entry) => entry.message)).then(
      (messages) => {
        this.loading = false;
        for (let i = 0; i < wanted.length; i++) this.loaded.set(wanted[i]!, messages[i]!);
        this.pump();
      },
      (err: unknown) => {
        this.loading = false;
        this.bodies.readFailed(err);
        // an entry consumed meanwhile has left the store: the next try skips it
        setTimeout(() => this.pump(), BROWSE_RETRY_MS).unref();
      },
    );
  }
}
