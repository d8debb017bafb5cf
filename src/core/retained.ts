import type { Store } from '../store/index.js';
import { hasWildcard, subscriptionMatches } from './address.js';
import { isClientComposite } from './destinations.js';
import { copyMessage, isExpired, type Message, type PropertyValue } from './message.js';
import type { Persistence } from './persistence.js';
import type { TopicSubscriptions } from './subscriptions.js';
import { RecordType, decodeMessage, decodeRetained, encodeMessage, encodeRetained } from './records.js';

/**
 * The property by which a producer of any protocol asks that its message be retained as its topic's
 * retained message, ActiveMQ's name (MQTT's retained publishes carry it too): ActiveMQ reads it for
 * every protocol, so JMS and STOMP services keep publishing state for MQTT devices that way.
 */
export const RETAIN_PROPERTY = 'ActiveMQ.Retain';

/** True when `value` of the retain property asks to retain: true, or text that reads true (a STOMP header), as ActiveMQ parses it. */
export function isRetainValue(value: PropertyValue | undefined): boolean {
  return value === true || (typeof value === 'string' && value.toLowerCase() === 'true');
}

/** True when `message` asks by its property to be retained and goes to a plain topic; elsewhere the property is only a property, as in ActiveMQ. */
export function asksToRetain(message: Message): boolean {
  if (message.properties.size === 0 || !isRetainValue(message.properties.get(RETAIN_PROPERTY))) return false;
  const destination = message.destination;
  return destination.kind === 'topic' && destination.temporary !== true && !isClientComposite(destination);
}

interface Retained {
  /** Its record in the store; 0 for one kept in memory only. */
  readonly recordId: number;
  readonly message: Message;
}

/**
 * The last retained message of each topic: set by a send that asks to retain, cleared by one with
 * an empty body, and handed to new subscriptions whose pattern matches. Every retained message is
 * kept in the store (persistent or not), so they survive a restart as subscribers expect; but for
 * one its sender keeps in memory only, a value it sends again every so often, which a write
 * each time would cost the store for nothing and a restart would bring back stale.
 */
export class RetainedMessages {
  private readonly byTopic = new Map<string, Retained>();

  constructor(
    private readonly store: Store,
    private readonly persistence: Persistence,
    private readonly clock: () => number,
    /** Keeps a retained message's body in memory: the retained copy outlives the message's record. */
    private readonly pin: (message: Message) => void,
  ) {}

  get size(): number {
    return this.byTopic.size;
  }

  has(topic: string): boolean {
    return this.byTopic.has(topic);
  }

  /**
   * Retains `message` for its topic (`inMemory`: not in the store), or clears the topic when its
   * body is empty; returns true when it wrote to the store.
   */
  set(message: Message, txId?: number, inMemory = false): boolean {
    const topic = message.destination.name;
    const previous = this.byTopic.get(topic);
    if (message.body.length === 0 || inMemory) {
      if (message.body.length === 0) this.byTopic.delete(topic);
      else {
        this.pin(message);
        this.byTopic.set(topic, { recordId: 0, message });
      }
      if (previous === undefined || previous.recordId === 0) return false;
      this.store.delete(previous.recordId, txId);
      return true;
    }
    this.pin(message);
    const data = encodeRetained({ persistent: message.persistent, message: encodeMessage(message) });
    if (previous === undefined || previous.recordId === 0) {
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

  /** Drops the retained messages of the topics `pattern` matches for which `which` holds; returns how many. */
  forget(pattern: string, which: (message: Message) => boolean): number {
    let dropped = 0;
    for (const [topic, retained] of [...this.byTopic]) {
      if (!subscriptionMatches(pattern, topic) || !which(retained.message)) continue;
      this.byTopic.delete(topic);
      if (retained.recordId !== 0) this.store.delete(retained.recordId);
      dropped++;
    }
    return dropped;
  }

  /** The retained messages whose topic the subscription `pattern` matches; expired ones are dropped on the way. */
  matching(pattern: string): Message[] {
    const now = this.clock();
    const found: Message[] = [];
    const take = (topic: string, retained: Retained): void => {
      if (isExpired(retained.message, now)) {
        this.byTopic.delete(topic);
        if (retained.recordId !== 0) this.store.delete(retained.recordId);
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

/**
 * A neighbour broker's retained messages, as a network connector brings them (docs/network.md,
 * "Retained messages"). They are kept here in memory only: they are the neighbour's, which may
 * change or clear them while no link carries that, so a restart forgets them rather than answering
 * from a stale copy. One the neighbour hands the connector's subscription as it starts goes to the
 * subscribers that asked it of the neighbour, not to the others, who have it or had no part in it.
 */
export class ForwardedRetained {
  constructor(
    private readonly retained: () => RetainedMessages,
    private readonly subscriptions: () => TopicSubscriptions,
  ) {}

  /** Keeps `message` as its topic's retained message (an empty body clears it) and hands it to the subscriptions of `consumers`. */
  keep(message: Message, consumers: ReadonlySet<number>): void {
    this.retained().set(message, undefined, true);
    if (message.body.length > 0 && consumers.size > 0) this.subscriptions().handRetainedTo(message, consumers);
  }

  /** Forgets the retained messages of the topics `pattern` matches that `came` says came from the neighbour; returns how many. */
  forget(pattern: string, came: (message: Message) => boolean): number {
    return this.retained().forget(pattern, came);
  }
}
