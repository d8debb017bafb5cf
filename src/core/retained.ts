import type { Store } from '../store/index.js';
import { hasWildcard, subscriptionMatches } from './address.js';
import { copyMessage, isExpired, type Message } from './message.js';
import type { Persistence } from './persistence.js';
import { RecordType, decodeMessage, decodeRetained, encodeMessage, encodeRetained } from './records.js';

interface Retained {
  readonly recordId: number;
  readonly message: Message;
}

/**
 * The last retained message of each topic: set by a send that asks to retain, cleared by one with
 * an empty body, and handed to new subscriptions whose pattern matches. Every retained message is
 * kept in the store (persistent or not), so they survive a restart as subscribers expect.
 */
export class RetainedMessages {
  private readonly byTopic = new Map<string, Retained>();

  constructor(
    private readonly store: Store,
    private readonly persistence: Persistence,
    private readonly clock: () => number,
  ) {}

  get size(): number {
    return this.byTopic.size;
  }

  has(topic: string): boolean {
    return this.byTopic.has(topic);
  }

  /** Retains `message` for its topic, or clears the topic when its body is empty; returns true when it wrote to the store. */
  set(message: Message, txId?: number): boolean {
    const topic = message.destination.name;
    const previous = this.byTopic.get(topic);
    if (message.body.length === 0) {
      if (previous === undefined) return false;
      this.byTopic.delete(topic);
      this.store.delete(previous.recordId, txId);
      return true;
    }
    const data = encodeRetained({ persistent: message.persistent, message: encodeMessage(message) });
    if (previous === undefined) {
      const recordId = this.persistence.allocateId();
      this.store.add(recordId, RecordType.Retained, data, txId);
      this.byTopic.set(topic, { recordId, message });
    } else {
      this.store.update(previous.recordId, RecordType.Retained, data, txId);
      this.byTopic.set(topic, { recordId: previous.recordId, message });
    }
    return true;
  }

  recover(recordId: number, data: Buffer): void {
    const record = decodeRetained(data);
    const decoded = decodeMessage(record.message);
    const message = record.persistent ? decoded : copyMessage(decoded, { persistent: false });
    const topic = message.destination.name;
    const previous = this.byTopic.get(topic);
    if (previous !== undefined) this.store.delete(previous.recordId);
    this.byTopic.set(topic, { recordId, message });
  }

  /** The retained messages whose topic the subscription `pattern` matches; expired ones are dropped on the way. */
  matching(pattern: string): Message[] {
    const now = this.clock();
    const found: Message[] = [];
    const take = (topic: string, retained: Retained): void => {
      if (isExpired(retained.message, now)) {
        this.byTopic.delete(topic);
        this.store.delete(retained.recordId);
        return;
      }
      found.push(retained.message);
    };
    if (!hasWildcard(pattern)) {
      const retained = this.byTopic.get(pattern);
      if (retained !== undefined) take(pattern, retained);
      return found;
    }
    for (const [topic, retained] of [...this.byTopic]) if (subscriptionMatches(pattern, topic)) take(topic, retained);
    return found;
  }
}
