import type { Destination, Message } from './message.js';

/**
 * Told what becomes of a message no consumer took: it expired while waiting, or it went to a
 * dead-letter queue (an OpenWire listener's `Expired` and `MessageDLQd` advisories). A message that
 * expires and is then dead-lettered is told of twice.
 */
export interface MessageOutcomeWatcher {
  /** Expired in a queue of `destination`, or in a subscription of the topic `destination`. */
  expired?(message: Message, destination: Destination): void;
  /** Moved from `from` (where it failed) to the queue `deadLetterQueue`; a message dropped instead is not told of. */
  deadLettered?(message: Message, from: Destination, deadLetterQueue: string, reason: string): void;
}

/**
 * Who watches messages' outcomes. Events, not state: nothing is kept for a watcher that comes
 * later. Queues and the router ask `watched` before they make anything for an event, so an outcome
 * no one watches costs them one check of an empty set.
 */
export class MessageOutcomes {
  private readonly watchers = new Set<MessageOutcomeWatcher>();

  get watched(): boolean {
    return this.watchers.size !== 0;
  }

  expired(message: Message, destination: Destination): void {
    for (const watcher of this.watchers) watcher.expired?.(message, destination);
  }

  deadLettered(message: Message, from: Destination, deadLetterQueue: string, reason: string): void {
    for (const watcher of this.watchers) watcher.deadLettered?.(message, from, deadLetterQueue, reason);
  }

  /** Returns the function that stops watching. */
  watch(watcher: MessageOutcomeWatcher): () => void {
    this.watchers.add(watcher);
    return () => void this.watchers.delete(watcher);
  }
}
