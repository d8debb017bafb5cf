import type mqttPacket from 'mqtt-packet';
import type { ISubscribePacket, IUnsubscribePacket } from 'mqtt-packet';
import { FerryError, errorFields, isFerryError } from '../../errors.js';
import type { ConsumerHandle } from '../../core/index.js';
import type { QoS } from './mapping.js';
import type { MqttConnection, Subscription } from './connection.js';
import { dropDurable, durableData, durableName } from './durable-session.js';
import { afterDurable } from './inbound.js';
import { sinkFor } from './outbound.js';
import { Reason } from './reasons.js';
import { parseFilter, type ParsedFilter } from './topics.js';

/**
 * SUBSCRIBE and UNSUBSCRIBE. A persistent session's subscriptions are durable subscriptions in
 * core, one per Ferry pattern of the filter (`a/#` is two: `a` and `a.>`).
 */

export function onSubscribe(s: MqttConnection, packet: ISubscribePacket): void {
  // [MQTT-3.8.3-3]
  if (packet.subscriptions.length === 0) throw new FerryError('FERRY_MQTT_MALFORMED', 'a SUBSCRIBE with no topic filter');
  // [MQTT-2.3.1-1]: a packet that needs an id has a non-zero one
  if ((packet.messageId ?? 0) === 0) throw new FerryError('FERRY_MQTT_MALFORMED', 'a SUBSCRIBE with packet identifier 0');
  const subscriptionId = packet.properties?.subscriptionIdentifier;
  // MQTT 5 3.8.2.1.2: a subscription identifier of 0 is a protocol error
  if (subscriptionId === 0) throw new FerryError('FERRY_MQTT_PROTOCOL', 'a SUBSCRIBE with subscription identifier 0');
  const granted: number[] = [];
  for (const request of packet.subscriptions) {
    granted.push(subscribeOne(s, request, subscriptionId));
  }
  const suback = (): void => s.writePacket({ cmd: 'suback', messageId: packet.messageId ?? 0, granted });
  // a persistent session's subscriptions are durable ones: the SUBACK vouches for them only once they are on disk
  if (s.sessionExpiry > 0 && granted.some((g) => g < 0x80)) afterDurable(s, s.requireCore().synced(), suback);
  else suback();
}

function subscribeOne(s: MqttConnection, request: mqttPacket.ISubscription, subscriptionId: number | undefined): number {
  const v5 = s.version === 5;
  const failure = (reason: number): number => (v5 ? reason : 0x80);
  let filter;
  try {
    filter = parseFilter(request.topic);
  } catch {
    return failure(Reason.topicFilterInvalid);
  }
  // [MQTT-3.8.3-4]: no-local on a shared subscription is a protocol error
  if (v5 && request.nl === true && filter.shareName !== undefined) throw new FerryError('FERRY_MQTT_PROTOCOL', 'no-local is not allowed on a shared subscription');
  // a bridge's subscriptions are its own unless shared: those deliver to one member, which may be another client
  const noLocal = (v5 && request.nl === true) || (s.bridge && filter.shareName === undefined);
  const qos = Math.min(request.qos, 2) as QoS;
  const rap = (v5 && request.rap === true) || s.bridge;
  const existing = s.subscriptions.get(request.topic);
  if (existing === undefined && s.subscriptions.size >= s.options.maxSubscriptions) return failure(Reason.quotaExceeded);
  const retainHandling = v5 ? (request.rh ?? 0) : 0;
  const handRetained = retainHandling === 2 || (retainHandling === 1 && existing !== undefined) ? 'none' : 'all';
  // a shared subscription is the session's too [MQTT 5 4.8.2]: its membership is durable, and keeps the group's queue
  const persistent = s.sessionExpiry > 0;
  const subscription: Subscription = { key: request.topic, qos, noLocal, retainAsPublished: rap, subscriptionId, consumers: [], durableNames: [] };
  try {
    const data = persistent ? durableData({ qos, noLocal, rap, subscriptionId }) : undefined;
    filter.patterns.forEach((_, part) => {
      const durable = data === undefined ? undefined : { name: durableName(request.topic, part), adapterData: data };
      // [MQTT-3.8.4-3]: a subscription to the same filter replaces the old one without interrupting
      // its flow: each new consumer takes over the old one's subscription, with what it holds and
      // what is in flight, so the client's acknowledgements of those still count
      const replaces = existing?.consumers[part];
      openConsumer(s, subscription, filter, part, durable, filter.shareName === undefined ? handRetained : 'none', replaces);
      if (replaces !== undefined) carryInFlight(s, replaces, subscription.consumers[part]!);
    });
    if (existing !== undefined) closeSubscription(s, existing, false);
  } catch (err) {
    closeSubscription(s, subscription, true);
    if (existing !== undefined) closeSubscription(s, existing, true);
    s.logger.warn({ event: 'mqtt.subscribe-refused', filter: request.topic, ...errorFields(err) }, 'MQTT subscription refused');
    // the other filters of the SUBSCRIBE are granted or refused each on its own
    return failure(isFerryError(err, 'FERRY_NOT_AUTHORIZED') ? Reason.notAuthorized : isFerryError(err, 'FERRY_LIMIT_EXCEEDED') ? Reason.quotaExceeded : Reason.unspecified);
  }
  s.ownSubscriptions().set(request.topic, subscription);
  return qos;
}

/** Subscribes to pattern `part` of `filter` (see `ParsedFilter.patterns`). */
export function openConsumer(
  s: MqttConnection,
  subscription: Subscription,
  filter: ParsedFilter,
  part: number,
  durable: { readonly name: string; readonly adapterData: string } | undefined,
  retained: 'all' | 'none',
  replaces?: ConsumerHandle,
): void {
  const { shareName } = filter;
  let consumer: ConsumerHandle | undefined;
  consumer = s.requireSession().subscribe({
    destination: { kind: 'topic', name: filter.patterns[part]! },
    // the parent level `a/#` brings in is part of that wildcard subscription: read only, it makes no topic
    partOfPattern: part > 0,
    sink: sinkFor(s, subscription, () => consumer),
    prefetch: Math.max(1, s.sendWindow),
    ackMode: subscription.qos === 0 ? 'auto' : 'individual',
    noLocal: subscription.noLocal,
    durable,
    shareName,
    retainedMessages: retained,
    // [MQTT-3.3.4-2]: a client's overlapping subscriptions get one copy, from the one of highest QoS
    // (so a persistent session keeps it), retain-as-published breaking a tie; shared subscriptions
    // are not the client's own
    overlap: shareName === undefined ? { group: 'mqtt', rank: subscription.qos * 2 + (subscription.retainAsPublished ? 1 : 0), tag: subscription.subscriptionId ?? 0 } : undefined,
    replaces,
    // [MQTT-4.4.0-1]: a session resends its unacknowledged publishes on every reconnect, however
    // often it comes back without acknowledging them; MQTT knows no delivery limit to dead-letter by
    exemptFromMaxRedeliveries: true,
  });
  subscription.consumers.push(consumer);
  if (durable !== undefined) subscription.durableNames.push(durable.name);
}

/** The publishes in flight to `from` are now `to`'s, under the same tags (`SubscribeOptions.replaces`). */
function carryInFlight(s: MqttConnection, from: ConsumerHandle, to: ConsumerHandle): void {
  if (to.tookOver !== true) return;
  for (const [id, out] of s.outbound) if (out.consumer === from) s.outbound.set(id, { ...out, consumer: to });
}

/**
 * Closes a subscription's consumers; `drop` also removes its durable subscriptions from core. What
 * is in flight under them stays in `s.outbound` until the client acknowledges it: the broker
 * completes the QoS 1 and 2 deliveries it has started [MQTT-3.10.4-3], and their packet ids stay
 * in use until then.
 */
function closeSubscription(s: MqttConnection, subscription: Subscription, drop: boolean): void {
  for (const consumer of subscription.consumers) consumer.close();
  if (drop) for (const name of subscription.durableNames) dropDurable(s.requireCore(), name);
  if (s.subscriptions.get(subscription.key) === subscription) s.subscriptions.delete(subscription.key);
}

export function onUnsubscribe(s: MqttConnection, packet: IUnsubscribePacket): void {
  // [MQTT-3.10.3-2]
  if (packet.unsubscriptions.length === 0) throw new FerryError('FERRY_MQTT_MALFORMED', 'an UNSUBSCRIBE with no topic filter');
  if ((packet.messageId ?? 0) === 0) throw new FerryError('FERRY_MQTT_MALFORMED', 'an UNSUBSCRIBE with packet identifier 0');
  const codes: number[] = [];
  let durablesDropped = false;
  for (const filter of packet.unsubscriptions) {
    const subscription = s.subscriptions.get(filter);
    if (subscription === undefined) codes.push(Reason.noSubscriptionExisted);
    else {
      durablesDropped ||= subscription.durableNames.length > 0;
      closeSubscription(s, subscription, true);
      codes.push(Reason.success);
    }
  }
  const unsuback = (): void => s.writePacket({ cmd: 'unsuback', messageId: packet.messageId ?? 0, granted: s.version === 5 ? codes : [] });
  // as a SUBACK: an UNSUBACK of a persistent session vouches for the durable subscriptions being gone from disk
  if (durablesDropped) afterDurable(s, s.requireCore().synced(), unsuback);
  else unsuback();
}
