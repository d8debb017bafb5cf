import { FerryError } from '../errors.js';
import type { Store } from '../store/index.js';
import type { BodyCache } from './body-cache.js';
import type { Declarations } from './declarations.js';
import { FANNED_OUT_PROPERTY, isClientComposite, splitComposite, type Destinations } from './destinations.js';
import type { Logger } from './logger.js';
import { copyMessage, type Destination, type Message, type PropertyValue } from './message.js';
import type { MessageQueue } from './message-queue.js';
import type { MessageOutcomes } from './message-outcomes.js';
import { overlapTarget, type RouteTarget } from './overlap.js';
import type { Persistence } from './persistence.js';
import type { PolicyBook } from './policy.js';
import { DELIVERIES_PROPERTY, type QueueEntry, type StoredMessage } from './queue-entry.js';
import type { TopicSubscription, TopicSubscriptions } from './subscriptions.js';

export interface RouterParts {
  readonly store: Store;
  readonly destinations: Destinations;
  readonly subscriptions: TopicSubscriptions;
  readonly declarations: Declarations;
  readonly bodies: BodyCache;
  readonly policies: PolicyBook;
  readonly logger: Logger;
  readonly outcomes: MessageOutcomes;
  persistence(): Persistence;
}

/**
 * Where messages go: a destination's queues (composites, virtual topics, topic subscriptions,
 * queues bound to `amq.topic`) or an exchange's bindings, how a routed message is placed in them,
 * and where a dead letter goes.
 */
export class Router {
  constructor(private readonly parts: RouterParts) {}

  /**
   * Every queue a message sent to `destination` lands in, following composites and virtual topics.
   * A composite hands each part its own copy named by that part (as ActiveMQ does), with the
   * composite's name as the original destination.
   */
  targetsOf(message: Message, destination: Destination, into: RouteTarget[], depth: number): void {
    if (depth > 8) throw new FerryError('FERRY_DESTINATION_INVALID', `composite destinations nest too deep at "${destination.name}"`);
    // published to an exchange (a prepared transaction's send, a dead letter): its bindings decide
    if (depth === 0 && message.exchange !== undefined) return this.parts.declarations.targetsOf(message, into);
    const forward = (to: Destination): void => {
      const copy = copyMessage(message, { destination: to, originalDestination: message.originalDestination ?? message.destination });
      this.targetsOf(copy, to, into, depth + 1);
    };
    if (isClientComposite(destination)) {
      for (const part of splitComposite(destination)) forward(part);
      return;
    }
    const composite = this.parts.destinations.composite(destination);
    if (composite !== undefined) {
      for (const to of composite.forwardTo) forward(to);
      if (composite.forwardOnly) return;
    }
    if (destination.kind === 'queue') {
      const queue = this.parts.destinations.queues.get(destination.name) ?? (destination.temporary === true ? undefined : this.parts.destinations.queueNamed(destination.name));
      if (queue !== undefined) into.push([queue, message]);
      return;
    }
    this.parts.destinations.topicSent(destination.name);
    let groups: Map<string, TopicSubscription[]> | undefined;
    // a temporary topic is its connection's alone, as ActiveMQ keeps temporary destinations apart
    // from what wildcards match: only a subscription to its very name (its owner's) gets its messages
    const temporary = destination.temporary === true || this.parts.destinations.isTemporary({ kind: 'topic', name: destination.name });
    this.parts.subscriptions.index.match(destination.name, (subscription) => {
      if (temporary && subscription.pattern !== destination.name) return;
      if (subscription.noLocal && subscription.localConnectionId === message.originConnectionId) return;
      if (subscription.selector !== undefined && !subscription.selector.matches(message)) return;
      const overlap = subscription.overlap;
      if (overlap === undefined) into.push([subscription.queue, message]);
      else {
        const members = (groups ??= new Map()).get(overlap.key);
        if (members === undefined) groups.set(overlap.key, [subscription]);
        else members.push(subscription);
      }
    });
    if (groups !== undefined) for (const members of groups.values()) into.push(overlapTarget(members, message));
    const fannedOut = message.brokerProperties?.get(FANNED_OUT_PROPERTY) === true;
    for (const queue of fannedOut ? [] : this.parts.destinations.virtualConsumersOf(destination.name)) {
      // each group's copy is its queue's, as ActiveMQ's is: a dead letter of one group goes back to that group alone
      into.push([queue, copyMessage(message, { destination: { kind: 'queue', name: queue.name }, originalDestination: message.originalDestination ?? destination })]);
    }
    // a topic send reaches queues bound to amq.topic too (as RabbitMQ's STOMP and MQTT plugins route it)
    if (message.exchange === undefined) this.parts.declarations.amqTopicTargets(message, destination.name, into);
  }

  /** Where a send to the configured composite queue `name` lands, for the default exchange's publishes; false when `name` is none. */
  compositeTargets(message: Message, name: string, into: RouteTarget[]): boolean {
    const queue: Destination = { kind: 'queue', name };
    if (this.parts.destinations.composite(queue) === undefined) return false;
    this.targetsOf(message, queue, into, 1);
    return true;
  }

  route(message: Message, storeTx: number | undefined, touched?: Set<MessageQueue>): boolean {
    const targets: RouteTarget[] = [];
    this.targetsOf(message, message.destination, targets, 0);
    return this.place(targets, storeTx, touched);
  }

  /** Puts a message in the queues routing chose: one message record for each distinct message some persisting queue keeps. */
  place(targets: RouteTarget[], storeTx: number | undefined, touched: Set<MessageQueue> | undefined): boolean {
    const persistence = this.parts.persistence();
    let stored: StoredMessage | null = null;
    let storedFor: Message | undefined;
    let wrote = false;
    let heldInMemory: Set<Message> | undefined;
    for (const [queue, routed, matched] of targets) {
      // a full reject-publish queue reached by a send, a commit or a dead letter drops what it cannot take
      if (queue.refuses(routed)) {
        queue.refused();
        continue;
      }
      let record: StoredMessage | null = null;
      if (routed.persistent && queue.recordId !== 0) {
        if (storedFor !== routed) {
          stored = persistence.storeMessage(routed, storeTx);
          storedFor = routed;
          wrote = true;
        }
        record = stored;
      }
      if (touched === undefined) queue.accept(routed, record, storeTx, true, matched);
      else {
        queue.accept(routed, record, storeTx, false, matched);
        touched.add(queue);
      }
    }
    if (wrote && this.parts.bodies.overLimit) {
      // a body may leave memory only if every queue holding its message can read it back from the store
      for (const [queue, routed] of targets) if (queue.recordId === 0 && routed.persistent) (heldInMemory ??= new Set()).add(routed);
      for (const [queue, routed] of targets) {
        if (queue.recordId !== 0 && routed.persistent && heldInMemory?.has(routed) !== true) this.parts.bodies.offer(routed);
      }
    }
    return wrote;
  }

  /**
   * Moves an entry to its dead-letter queue inside one store transaction (a crash keeps it in one
   * place or the other, never both or neither). Non-persistent messages are dropped unless the
   * policy says otherwise, and so is anything failing in a dead-letter queue itself.
   */
  deadLetter(queue: MessageQueue, entry: QueueEntry, reason: string): boolean {
    if (queue.declared !== undefined) return this.parts.declarations.deadLetter(queue, entry, reason);
    const message = entry.message;
    const policy = queue.policy;
    // where it failed, not where it was first sent (a composite, a virtual topic, an exchange that
    // routed it to several queues, or a topic a queue bound to amq.topic took it from): a retry goes
    // back there alone. A subscription's messages failed in the topic they were sent to.
    const origin: Destination = queue.kind === 'queue' ? { kind: 'queue', name: queue.name } : message.destination;
    const target = policy.individualDeadLetter ? `${policy.individualDeadLetterPrefix}${origin.name}` : policy.deadLetterQueue;
    const inDeadLetterQueue = this.parts.policies.isDeadLetterQueue(queue.name);
    const drop = inDeadLetterQueue || (!message.persistent && !policy.deadLetterNonPersistent) || message.destination.temporary === true;
    if (drop) {
      queue.acknowledge(entry);
      const fields = { event: 'message.discarded', messageId: message.id, queue: queue.name, reason };
      // it has nowhere left to go (ActiveMQ drops it too): the log is the only trace an operator gets
      if (inDeadLetterQueue) this.parts.logger.warn(fields, `message ${message.id} failed in dead-letter queue ${queue.name} and was discarded: ${reason}`);
      else this.parts.logger.debug(fields, 'message discarded');
      return false;
    }
    const properties = new Map<string, PropertyValue>(message.properties);
    properties.set('dlqDeliveryFailureCause', reason);
    if (message.expiration !== 0) properties.set('originalExpiration', message.expiration);
    const brokerProperties = new Map<string, PropertyValue>(message.brokerProperties);
    brokerProperties.set(DELIVERIES_PROPERTY, entry.deliveryCount - 1);
    const copy = copyMessage(message, { destination: { kind: 'queue', name: target }, originalDestination: origin, expiration: 0, properties, brokerProperties });
    const persistence = this.parts.persistence();
    const dlq = this.parts.destinations.queueNamed(target, 'broker');
    const txId = copy.persistent ? persistence.allocateId() : undefined;
    const stored = copy.persistent ? persistence.storeMessage(copy, txId) : null;
    dlq.accept(copy, stored, txId, false);
    queue.acknowledge(entry, txId);
    if (txId !== undefined) this.parts.store.commit(txId);
    // a dead-letter queue that fills up must not fill memory either
    if (stored !== null) this.parts.bodies.offer(copy);
    this.parts.logger.debug({ event: 'message.dead-lettered', messageId: message.id, from: queue.name, to: target, reason }, 'message dead-lettered');
    if (this.parts.outcomes.watched) this.parts.outcomes.deadLettered(message, origin, target, reason);
    queueMicrotask(() => dlq.dispatch());
    return true;
  }

}
