import { FerryError, isFerryError } from '../../errors.js';
import { isRetainValue, type ConsumerHandle, type Delivery, type DeliverySink, type Message } from '../../core/index.js';
import { RETAIN_PROPERTY, encodeAck, encodeMessageProperties, encodePublish, messageQos, publishSize, writePublish, type PublishFrame, type QoS } from './mapping.js';
import { NO_OUTBOUND, type MqttConnection, type Outbound, type Subscription } from './connection.js';
import { forgetOwedPubrel, rememberOwedPubrel } from './durable-session.js';
import { afterDurable } from './inbound.js';
import { Reason } from './reasons.js';
import { topicFromFerry } from './topics.js';

/**
 * Deliveries to the client: PUBLISH packets, the in-flight window (the client's Receive Maximum),
 * and the client's PUBACK, PUBREC and PUBCOMP.
 */

export function sinkFor(s: MqttConnection, subscription: Subscription, consumer: () => ConsumerHandle | undefined): DeliverySink {
  /** Deliveries that came while the subscribe making the consumer had not returned yet. */
  let early: Delivery[] | undefined;
  const sink: DeliverySink = {
    deliver: (delivery) => {
      const handle = consumer();
      if (handle !== undefined && early === undefined) return deliver(s, subscription, handle, delivery);
      // a subscribe that replaces one (the same filter again) is handed what its predecessor gives
      // back before it returns the handle a delivery is acknowledged through: they go, in order, once it has
      if (early === undefined) {
        early = [];
        queueMicrotask(() => {
          const waiting = early!;
          early = undefined;
          const made = consumer();
          // a subscribe that failed made no consumer: core takes back what it handed over
          if (made !== undefined) for (const d of waiting) deliver(s, subscription, made, d);
        });
      }
      early.push(delivery);
    },
    isWritable: () => s.transport.isWritable(),
    onWritable: (resume) => s.transport.onWritable(resume),
  };
  // the client's Receive Maximum counts every QoS 1 and 2 message in flight on the connection
  if (subscription.qos > 0) sink.hasCredit = () => inFlightOut(s) < s.sendWindow;
  return sink;
}

function deliver(s: MqttConnection, subscription: Subscription, consumer: ConsumerHandle, delivery: Delivery): void {
  const message = delivery.message;
  const qos = Math.min(subscription.qos, messageQos(message)) as QoS;
  const v5 = s.version === 5;
  const retain = delivery.retained === true || (subscription.retainAsPublished && message.properties.size > 0 && isRetainValue(message.properties.get(RETAIN_PROPERTY)));
  const topicName = topicOf(s, message);
  let topic = topicName.bytes;
  let topicAlias: number | undefined;
  if (v5 && s.clientAliasMaximum > 0) {
    const aliases = (s.outboundAliases ??= new Map());
    const known = aliases.get(topicName.text);
    if (known !== undefined) {
      topicAlias = known;
      topic = Buffer.alloc(0);
    } else if (aliases.size < s.clientAliasMaximum) {
      topicAlias = aliases.size + 1;
      aliases.set(topicName.text, topicAlias);
    }
  }
  let expiry: number | undefined;
  if (v5 && message.expiration !== 0) expiry = Math.max(0, Math.ceil((message.expiration - Date.now()) / 1000));
  // [MQTT-4.4.0-1]: a persistent session resends an unacknowledged PUBLISH under its original packet id
  const resendKey = qos > 0 && s.sessionExpiry > 0 ? `${subscription.key}\u0000${message.id}` : undefined;
  const packetId = qos === 0 ? 0 : packetIdFor(s, resendKey, delivery.redelivered);
  const frame: PublishFrame = {
    topic,
    qos,
    dup: qos > 0 && delivery.redelivered,
    retain,
    packetId,
    properties: v5 ? propertiesOf(s, message) : undefined,
    expiry,
    topicAlias,
    subscriptionIds: v5 ? subscriptionIdsOf(subscription, delivery) : undefined,
    payload: message.body,
  };
  const autoAck = consumer.ackMode === 'auto';
  const size = publishSize(frame);
  // [MQTT-3.1.2-25]: a packet over the client's Maximum Packet Size is dropped as if delivered
  if (v5 && size > s.clientMaxPacketSize) {
    if (topicAlias !== undefined && topic.length > 0) s.outboundAliases?.delete(topicName.text);
    if (!autoAck) consumer.acknowledge(delivery.tag);
    return;
  }
  s.counters.sent++;
  s.flushAcks();
  const room = s.transport.reserve?.(size);
  if (room === undefined) s.transport.write(encodePublish(frame));
  else {
    writePublish(frame, room);
    s.transport.sendReserved?.();
  }
  if (qos === 0) {
    if (!autoAck) consumer.acknowledge(delivery.tag);
    return;
  }
  if (s.outbound === NO_OUTBOUND) s.outbound = new Map();
  s.outbound.set(packetId, { consumer, tag: delivery.tag, qos, resendKey });
  if (resendKey !== undefined) s.state!.rememberSent(resendKey, packetId);
}

/** [MQTT-3.3.4-4]: a message routed once for overlapping subscriptions carries all their identifiers. */
function subscriptionIdsOf(subscription: Subscription, delivery: Delivery): readonly number[] | undefined {
  const matched = delivery.matched;
  if (matched === undefined) return subscription.subscriptionId === undefined ? undefined : [subscription.subscriptionId];
  const ids = matched.filter((id) => id !== 0);
  return ids.length === 0 ? undefined : ids;
}

function topicOf(s: MqttConnection, message: Message): { text: string; bytes: Buffer } {
  const name = message.destination.name;
  if (name === s.lastOutboundName) return s.lastOutboundTopic!;
  const topic = sharedTopicOf(message);
  if (message.destination.temporary !== true) {
    s.lastOutboundName = name;
    s.lastOutboundTopic = topic;
  }
  return topic;
}

/** The MQTT topic of a message, encoded once for all the sessions it goes to. */
function sharedTopicOf(message: Message): { text: string; bytes: Buffer } {
  let encodings = message.encodings;
  const cached = encodings?.get('mqtt.topic') as { text: string; bytes: Buffer } | undefined;
  if (cached !== undefined) return cached;
  const text = topicFromFerry(message.destination.name);
  const topic = { text, bytes: Buffer.from(text, 'utf8') };
  if (message.destination.temporary === true) return topic;
  if (encodings === undefined) message.encodings = encodings = new Map();
  encodings.set('mqtt.topic', topic);
  return topic;
}

function propertiesOf(s: MqttConnection, message: Message): Buffer {
  let encodings = message.encodings;
  const cached = encodings?.get(s.v5Key) as Buffer | undefined;
  if (cached !== undefined) return cached;
  const props = encodeMessageProperties(message);
  if (encodings === undefined) message.encodings = encodings = new Map();
  encodings.set(s.v5Key, props);
  return props;
}

export function onPuback(s: MqttConnection, id: number): void {
  const out = s.outbound.get(id);
  if (out === undefined || out.qos !== 1) return;
  s.outbound.delete(id);
  settle(s, out);
}

export function onPubrec(s: MqttConnection, id: number, reasonCode: number): void {
  const v5 = s.version === 5;
  const out = s.outbound.get(id);
  if (out === undefined || out.qos !== 2) {
    // a PUBREC for an exchange resumed from an earlier connection already has its PUBREL state
    if (!s.state!.awaitingComplete.has(id)) {
      s.write(encodeAck('pubrel', id, Reason.packetIdNotFound, v5));
      return;
    }
    // not before the first PUBREL for it, which may still wait for its sync
    afterDurable(s, null, () => s.write(encodeAck('pubrel', id, 0, v5)));
    return;
  }
  s.outbound.delete(id);
  const core = reasonCode < 0x80 && s.sessionExpiry > 0 ? s.requireCore() : undefined;
  // written before the acknowledgement that lets core forget the message: should the two go to
  // disk apart, a crash brings the message back rather than losing the PUBREL owed for it
  if (core !== undefined) rememberOwedPubrel(core, id);
  // the client owns the message from here: core forgets it, the session remembers the packet id
  settle(s, out);
  if (reasonCode >= 0x80) return;
  s.state!.awaitingComplete.add(id);
  const pubrel = (): void => s.write(encodeAck('pubrel', id, 0, v5));
  // clients hand a QoS 2 message over at PUBREL (MQTT.js does): it goes out once a crash can no
  // longer bring the message back without the PUBREL owed, to be delivered a second time
  if (core === undefined) pubrel();
  else afterDurable(s, core.synced(), pubrel);
}

export function onPubcomp(s: MqttConnection, id: number): void {
  if (s.sessionExpiry > 0 && s.core !== undefined) forgetOwedPubrel(s.core, id);
  if (s.state!.awaitingComplete.delete(id)) wakeConsumers(s);
}

/** Acknowledges in core; what that frees is dispatched once the read is done (`wakeAfterRead`). */
function settle(s: MqttConnection, out: Outbound): void {
  if (out.resendKey !== undefined) s.state?.forgetSent(out.resendKey);
  const wasFull = inFlightOut(s) + 1 >= s.sendWindow;
  if (!out.consumer.isClosed) {
    try {
      out.consumer.acknowledgeOnly(out.tag);
    } catch (err) {
      if (!isFerryError(err, 'FERRY_DELIVERY_NOT_FOUND') && !isFerryError(err, 'FERRY_CONSUMER_NOT_FOUND')) throw err;
    }
  }
  if (wasFull) s.wakeAll = true;
  else if (s.toWake[s.toWake.length - 1] !== out.consumer) s.toWake.push(out.consumer);
}

export function wakeAfterRead(s: MqttConnection): void {
  if (s.wakeAll) {
    s.wakeAll = false;
    s.toWake.length = 0;
    wakeConsumers(s);
    return;
  }
  const toWake = s.toWake;
  for (let i = 0; i < toWake.length; i++) {
    const consumer = toWake[i]!;
    if (!consumer.isClosed) consumer.wake();
  }
  toWake.length = 0;
}

function inFlightOut(s: MqttConnection): number {
  return s.outbound.size + (s.state?.awaitingCompleteCount ?? 0);
}

function wakeConsumers(s: MqttConnection): void {
  for (const subscription of s.subscriptions.values()) for (const consumer of subscription.consumers) consumer.wake();
}

/** The id a redelivery was sent under before, when it is free on this connection; a new one otherwise. */
function packetIdFor(s: MqttConnection, resendKey: string | undefined, redelivered: boolean): number {
  if (resendKey !== undefined && redelivered) {
    const previous = s.state?.sentBeforeAs(resendKey);
    if (previous !== undefined && !packetIdInUse(s, previous)) return previous;
  }
  return allocatePacketId(s);
}

/** In flight to the client, or awaiting its PUBCOMP. */
function packetIdInUse(s: MqttConnection, id: number): boolean {
  return s.outbound.has(id) || (s.state !== undefined && s.state.awaitingCompleteCount > 0 && s.state.awaitingComplete.has(id));
}

function allocatePacketId(s: MqttConnection): number {
  for (let i = 0; i < 65535; i++) {
    const id = s.nextPacketId;
    s.nextPacketId = id === 65535 ? 1 : id + 1;
    if (!packetIdInUse(s, id)) return id;
  }
  throw new FerryError('FERRY_MQTT_PROTOCOL', 'no packet identifier free');
}
