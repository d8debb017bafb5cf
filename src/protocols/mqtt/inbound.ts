import { isUtf8 } from 'node:buffer';
import type { IPublishPacket } from 'mqtt-packet';
import { FerryError, errorFields, isFerryError } from '../../errors.js';
import { isTemporaryName, type SendOptions } from '../../core/index.js';
import { encodeAck, publishToMessage } from './mapping.js';
import type { MqttConnection } from './connection.js';
import { forgetQos2Id, holdsQos2Id } from './durable-session.js';
import { type PublishView, userPropertiesInOrder } from './framing.js';
import { Reason, ackReasonOf } from './reasons.js';
import { isBridgeStateTopic, isSysTopic, topicToFerry } from './topics.js';

/** PUBLISH from the client, its QoS 1 and 2 flows (PUBACK; PUBREC, PUBREL, PUBCOMP), acknowledged once durable. */

/** A publish without the RETAIN flag is not retained, whatever a 5.0 user property `ActiveMQ.Retain` says (core reads that property from other protocols). */
const NOT_RETAINED: SendOptions = { retain: false };

/** Bytes of PUBACKs batched per slab: 256 of them. */
const ACK_SLAB = 1024;

/** A body view that pins a much larger socket chunk is copied, so a queued small message does not hold the whole chunk. */
function ownBody(body: Buffer): Buffer {
  return body.length * 2 < body.buffer.byteLength ? Buffer.from(body) : body;
}

/** `raw`, for a PUBLISH mqtt-packet parsed, is its bytes. */
export function onPublish(s: MqttConnection, packet: PublishView, properties: IPublishPacket['properties'], raw?: MqttConnection['parsingPublish']): void {
  const v5 = s.version === 5;
  const id = packet.packetId;
  let topic = packet.topic;
  const alias = properties?.topicAlias;
  if (alias !== undefined) {
    if (alias === 0 || alias > s.options.topicAliasMaximum) {
      throw new FerryError('FERRY_MQTT_TOPIC_ALIAS_INVALID', `topic alias ${alias} is outside 1..${s.options.topicAliasMaximum}`);
    }
    if (topic.length > 0) (s.inboundAliases ??= new Map()).set(alias, topic);
    else {
      const known = s.inboundAliases?.get(alias);
      if (known === undefined) throw new FerryError('FERRY_MQTT_PROTOCOL', `topic alias ${alias} was never set on this connection`);
      topic = known;
    }
  }
  // MQTT 5 (3.3.2.1): a zero-length topic name is only for a topic alias; 3.1.1 refuses it as an invalid name below
  if (topic.length === 0 && v5) throw new FerryError('FERRY_MQTT_PROTOCOL', 'a PUBLISH with an empty topic name and no topic alias');
  // acknowledged, as Mosquitto does, so the client goes on
  if (isSysTopic(topic) && !isBridgeStateTopic(topic)) {
    if (packet.qos === 2) s.state!.receivedQos2.add(id);
    if (packet.qos > 0) afterDurable(s, null, () => s.write(encodeAck(packet.qos === 1 ? 'puback' : 'pubrec', id, 0, v5)));
    s.logger.debug({ event: 'mqtt.sys-publish-dropped', topic, clientId: s.core?.clientId }, 'a client\'s publish under $SYS dropped');
    return;
  }
  // a persistent session's QoS 2 packet ids go into the journal with their message, so that a
  // resend after a broker restart is still known for one
  const producerId = packet.qos === 2 && s.sessionExpiry > 0 ? String(id) : undefined;
  if (packet.qos === 2 && (s.state!.receivedQos2.has(id) || (producerId !== undefined && holdsQos2Id(s.core!, producerId)))) {
    // a resend of a QoS 2 publish already taken: answer again, deliver nothing ([MQTT-4.3.3-9])
    s.write(encodeAck('pubrec', id, 0, v5));
    return;
  }
  if (packet.qos > 0 && ++s.inboundPending > s.options.receiveMaximum && v5) {
    throw new FerryError('FERRY_MQTT_RECEIVE_MAXIMUM_EXCEEDED', `more than ${s.options.receiveMaximum} unacknowledged publishes (Receive Maximum)`);
  }
  let ferryTopic = s.lastInboundFerryTopic;
  if (topic !== s.lastInboundTopic) {
    ferryTopic = topicToFerry(topic);
    s.lastInboundTopic = topic;
    s.lastInboundFerryTopic = ferryTopic;
  }
  const payload = ownBody(packet.payload);
  let durable: Promise<void> | null;
  let reasonCode: number = Reason.success;
  try {
    // [MQTT 3.3.2.3.2] the broker may check the payload against the indicator; it does, since other
    // protocols take such a payload as text, where bytes that are not UTF-8 would be lost
    if (properties?.payloadFormatIndicator === true && !isUtf8(payload)) {
      throw new FerryError('FERRY_MQTT_PAYLOAD_FORMAT_INVALID', 'a PUBLISH with Payload Format Indicator 1 and a payload that is not UTF-8');
    }
    const user = properties?.userProperties;
    const inOrder = raw !== undefined && user !== undefined && Object.values(user).some(Array.isArray) ? userPropertiesInOrder(raw.buf, raw.start, raw.bodyStart, raw.end) : undefined;
    const init = publishToMessage(properties === undefined ? packet : { qos: packet.qos, payload, properties }, ferryTopic, payload, s.lastReceived, packet.retain, inOrder);
    const session = s.requireSession();
    durable = session.send(init, undefined, packet.retain || producerId !== undefined ? { retain: packet.retain, producerId } : NOT_RETAINED);
    s.readHold.until(session.roomAfterSend);
  } catch (err) {
    if (isFerryError(err, 'FERRY_DESTINATION_NOT_FOUND') && isTemporaryName(ferryTopic)) {
      // a late reply to a response topic that was a temporary topic, now gone: other protocols hear
      // "no longer exists"; an MQTT publish is taken and dropped, as one nobody subscribes to
      s.logger.debug({ event: 'mqtt.publish-dropped', topic, clientId: s.core?.clientId, ...errorFields(err) }, 'MQTT publish to a gone temporary topic dropped');
      durable = null;
      reasonCode = Reason.noMatchingSubscribers;
    } else {
      if (packet.qos === 0 && v5 && isFerryError(err) && err.code === 'FERRY_NOT_AUTHORIZED') {
        // MQTT 5 has no acknowledgement to refuse a QoS 0 message with: it is dropped, the connection goes on
        s.logger.warn({ event: 'mqtt.publish-refused', topic, clientId: s.core?.clientId, remoteAddress: s.core?.remoteAddress, ...errorFields(err) }, 'MQTT QoS 0 publish refused and dropped');
        return;
      }
      if (!v5 && (s.bridge || isBridgeStateTopic(topic)) && isFerryError(err, 'FERRY_NOT_AUTHORIZED')) {
        // [MQTT-3.3.5-2] lets the server acknowledge a publish it does not authorize instead of
        // closing: a bridge closed for one sends it again first on every reconnection, and nothing
        // behind it ever passes. Mosquitto acknowledges it and drops it. A bridge's state is what
        // any Mosquitto bridge publishes first, the bridge bit or not.
        s.logger.warn({ event: 'mqtt.publish-refused', topic, clientId: s.core?.clientId, remoteAddress: s.core?.remoteAddress, ...errorFields(err) }, 'MQTT publish from a bridge refused and dropped');
        if (packet.qos === 0) return;
        s.inboundPending--;
        afterDurable(s, null, () => s.write(encodeAck(packet.qos === 1 ? 'puback' : 'pubrec', id, 0, false)));
        return;
      }
      // 3.1.1 cannot refuse one message: the connection closes [MQTT-3.3.5-2]
      if (packet.qos === 0 || !v5) throw err;
      // MQTT 5 refuses one message and keeps the connection
      s.inboundPending--;
      // in its turn: acknowledgements go out in the order of their publishes [MQTT-4.6.0-2]
      afterDurable(s, null, () => s.write(encodeAck(packet.qos === 1 ? 'puback' : 'pubrec', id, ackReasonOf(err), true)));
      return;
    }
  }
  if (packet.qos === 0) {
    track(s, durable);
    return;
  }
  if (packet.qos === 2) {
    s.state!.receivedQos2.add(id);
    (s.inboundQos2 ??= new Set()).add(id);
  }
  if (packet.qos === 1 && durable === null && s.durable === null && reasonCode === Reason.success) {
    s.inboundPending--;
    queuePuback(s, id);
    return;
  }
  afterDurable(s, durable, () => {
    // a QoS 2 publish counts until its PUBREL (4.9: the client's quota comes back with PUBCOMP)
    if (packet.qos === 1) s.inboundPending--;
    s.write(encodeAck(packet.qos === 1 ? 'puback' : 'pubrec', id, reasonCode, v5));
  });
}

/** A PUBACK (success) written with the others of this read; it keeps its place before any other write. */
function queuePuback(s: MqttConnection, id: number): void {
  let acks = s.acks;
  if (acks === undefined || s.acksEnd + 4 > acks.length) {
    s.flushAcks();
    s.acks = acks = Buffer.allocUnsafe(ACK_SLAB);
    s.acksStart = s.acksEnd = 0;
  }
  const at = s.acksEnd;
  acks[at] = 0x40;
  acks[at + 1] = 2;
  acks[at + 2] = id >> 8;
  acks[at + 3] = id & 0xff;
  s.acksEnd = at + 4;
}

function track(s: MqttConnection, durable: Promise<void> | null): void {
  if (durable === null) return;
  s.durable = durable;
  durable.then(
    () => {
      if (s.durable === durable) s.durable = null;
    },
    (err: unknown) => s.fail(err),
  );
}

/** Runs `then` once `durable` and every earlier sync of this connection are on disk, so acknowledgements keep their order. */
export function afterDurable(s: MqttConnection, durable: Promise<void> | null, then: () => void): void {
  track(s, durable);
  const wait = s.durable;
  if (wait === null) then();
  else
    wait.then(
      () => {
        if (!s.transport.closed) then();
      },
      () => {},
    );
}

export function onPubrel(s: MqttConnection, id: number): void {
  if (s.inboundQos2?.delete(id) === true) s.inboundPending--;
  s.state!.receivedQos2.delete(id);
  const core = s.sessionExpiry > 0 ? s.core : undefined;
  const forgotten = core !== undefined && forgetQos2Id(core, String(id));
  // A client sends PUBREL only after PUBREC, and PUBREC goes out only once the message is taken: an
  // id no longer held was released before and its PUBCOMP lost (a dropped connection, a crash once
  // the forgetting was on disk). Success, as Mosquitto answers it: 0x92 would have MQTT.js report a
  // delivered message as failed, and an application that publishes it again makes a duplicate.
  const write = (): void => s.write(encodeAck('pubcomp', id, 0, s.version === 5));
  // after PUBCOMP the id names a new publication (4.3.3), so it goes out only once a crash can no
  // longer bring the id back as held: the client's next message under it would be taken for a resend
  afterDurable(s, forgotten ? core.synced() : null, write);
}
