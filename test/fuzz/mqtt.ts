import mqttPacket from 'mqtt-packet';
import type { LengthField, Seed } from './mutate.js';
import type { FuzzTarget, Reply } from './target.js';

type Version = 4 | 5;

/** A packet as mqtt-packet writes it, with its remaining length (and a PUBLISH's topic length) marked. */
function packet(name: string, p: mqttPacket.Packet, version: Version): Seed {
  const bytes = mqttPacket.generate(p, { protocolVersion: version });
  let at = 1;
  while (at < bytes.length && bytes[at]! >= 0x80) at++;
  const lengths: LengthField[] = [{ at: 1, kind: 'varint', outer: true }];
  // a PUBLISH's topic and a CONNECT's protocol name start with a two-byte length
  if (p.cmd === 'publish' || p.cmd === 'connect') lengths.push({ at: at + 1, kind: 'uint', width: 2 });
  return { name, bytes, lengths };
}

const TOPIC = 'fuzz/mqtt/a';

function connect(version: Version): Seed {
  return packet(
    'CONNECT',
    {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: version,
      clean: true,
      clientId: '',
      keepalive: 0,
      ...(version === 5 ? { properties: { sessionExpiryInterval: 0, receiveMaximum: 20, maximumPacketSize: 1 << 20, topicAliasMaximum: 5, userProperties: { a: 'b' } } } : {}),
    } as mqttPacket.IConnectPacket,
    version,
  );
}

function seeds(version: Version): Seed[] {
  const v5 = version === 5;
  const list: [string, mqttPacket.Packet][] = [
    ['PUBLISH qos0', { cmd: 'publish', topic: TOPIC, payload: Buffer.from('zero'), qos: 0, dup: false, retain: false }],
    ['PUBLISH qos1', { cmd: 'publish', topic: TOPIC, payload: Buffer.from('one'), qos: 1, messageId: 1, dup: false, retain: false, ...(v5 ? { properties: { contentType: 'text/plain', messageExpiryInterval: 60, userProperties: { k: ['v', 'w'] } } } : {}) }],
    ['PUBLISH qos2', { cmd: 'publish', topic: TOPIC, payload: Buffer.from('two'), qos: 2, messageId: 2, dup: false, retain: false }],
    ['PUBLISH retain', { cmd: 'publish', topic: 'fuzz/mqtt/retained', payload: Buffer.from('kept'), qos: 1, messageId: 3, dup: false, retain: true }],
    ['PUBREL', { cmd: 'pubrel', messageId: 2 }],
    ['SUBSCRIBE', { cmd: 'subscribe', messageId: 4, subscriptions: [{ topic: 'fuzz/mqtt/+', qos: 1, ...(v5 ? { nl: true, rap: true, rh: 1 } : {}) }, { topic: 'fuzz/#', qos: 2 }], ...(v5 ? { properties: { subscriptionIdentifier: 7 } } : {}) } as mqttPacket.ISubscribePacket],
    ['SUBSCRIBE shared', { cmd: 'subscribe', messageId: 5, subscriptions: [{ topic: '$share/g/fuzz/mqtt/a', qos: 1 }] } as mqttPacket.ISubscribePacket],
    ['PUBACK', { cmd: 'puback', messageId: 1 }],
    ['PUBREC', { cmd: 'pubrec', messageId: 1 }],
    ['PUBCOMP', { cmd: 'pubcomp', messageId: 1 }],
    ['UNSUBSCRIBE', { cmd: 'unsubscribe', messageId: 6, unsubscriptions: ['fuzz/mqtt/+'] }],
    ['PINGREQ', { cmd: 'pingreq' }],
  ];
  if (v5) {
    list.push(['PUBLISH alias', { cmd: 'publish', topic: TOPIC, payload: Buffer.from('alias'), qos: 0, dup: false, retain: false, properties: { topicAlias: 1 } }]);
    list.push(['PUBLISH by alias', { cmd: 'publish', topic: '', payload: Buffer.from('by alias'), qos: 0, dup: false, retain: false, properties: { topicAlias: 1 } }]);
    list.push(['AUTH', { cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: Buffer.from('n,,n=u,r=abc') } } as mqttPacket.IAuthPacket]);
  }
  return list.map(([name, p]) => packet(name, p, version));
}

const PINGREQ = Buffer.from([0xc0, 0x00]);

/** The packets of a stream, each as its type and the bytes after its fixed header; stops at a cut or bad one. */
export function mqttPackets(bytes: Buffer): { type: number; body: Buffer }[] {
  const packets: { type: number; body: Buffer }[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    let remaining = 0;
    let i = at + 1;
    let shift = 0;
    for (; i < bytes.length && i < at + 5; i++, shift += 7) {
      remaining += (bytes[i]! & 0x7f) * 2 ** shift;
      if (bytes[i]! < 0x80) break;
    }
    if (i >= bytes.length || i >= at + 5) break;
    const end = i + 1 + remaining;
    if (end > bytes.length) break;
    packets.push({ type: bytes[at]! >> 4, body: bytes.subarray(i + 1, end) });
    at = end;
  }
  return packets;
}

function readMqtt(received: Buffer): Reply {
  const errors: string[] = [];
  let probeAnswered = false;
  for (const p of mqttPackets(received)) {
    if (p.type === 2 && p.body[1] !== undefined && p.body[1] !== 0) errors.push(`CONNACK 0x${p.body[1].toString(16)}`);
    if (p.type === 14) errors.push(`DISCONNECT 0x${(p.body[0] ?? 0).toString(16)}`);
    if (p.type === 13) probeAnswered = true;
  }
  return { errors, probeAnswered };
}

function mqttTarget(version: Version): FuzzTarget {
  return {
    name: version === 5 ? 'mqtt-5' : 'mqtt-3.1.1',
    listener: 'mqtt',
    handshake: [connect(version)],
    seeds: seeds(version),
    handshakeDone: (received) => mqttPackets(received).some((p) => p.type === 2),
    // PINGREQ alone: a DISCONNECT after it would end the connection without a word whenever a
    // case's cut packet swallowed the PINGREQ, and look like a close the broker owed a reason for
    probe: PINGREQ,
    read: readMqtt,
    // 3.1.1 closes on bad input without a packet ([MQTT-4.8.0-1]); 5.0 says why in a DISCONNECT
    // once CONNACK is out. A DISCONNECT the case itself sent ends the connection without one.
    errorDue: (phase, sent) => version === 5 && phase === 'after' && !mqttPackets(sent).some((p) => p.type === 14),
  };
}

export const mqtt311Target = mqttTarget(4);
export const mqtt5Target = mqttTarget(5);
