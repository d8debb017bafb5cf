import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import type { FerryError } from '../../src/errors.js';
import { PacketFramer, decodePublish, type PacketReceiver } from '../../src/protocols/mqtt/framing.js';

interface Seen {
  packets: Buffer[];
  bodies: Buffer[];
  errors: string[];
  tooLarge: number[];
}

function framer(maxPacketSize = 1 << 20, stopAfter = Infinity): { framer: PacketFramer; seen: Seen } {
  const seen: Seen = { packets: [], bodies: [], errors: [], tooLarge: [] };
  const receiver: PacketReceiver = {
    packet(buf, start, bodyStart, end) {
      // copied: the framer promises a view valid only during the call
      seen.packets.push(Buffer.from(buf.subarray(start, end)));
      seen.bodies.push(Buffer.from(buf.subarray(bodyStart, end)));
      return seen.packets.length < stopAfter;
    },
    malformed(error: FerryError) {
      seen.errors.push(error.code);
    },
    tooLarge(size) {
      seen.tooLarge.push(size);
    },
  };
  return { framer: new PacketFramer(maxPacketSize, receiver), seen };
}

const v4 = { protocolVersion: 4 } as const;

/** Packets whose remaining lengths take 1, 2 and 3 bytes, and some of no body at all. */
const packets: Buffer[] = [
  mqttPacket.generate({ cmd: 'connect', clientId: 'c', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0 }),
  mqttPacket.generate({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 0, dup: false, retain: false }, v4),
  mqttPacket.generate({ cmd: 'pingreq' }),
  mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(300, 7), qos: 1, messageId: 513, dup: false, retain: true }, v4),
  mqttPacket.generate({ cmd: 'puback', messageId: 9 }, v4),
  mqttPacket.generate({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(20_000, 3), qos: 2, messageId: 65535, dup: true, retain: false }, v4),
  mqttPacket.generate({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'x/#', qos: 1 }] }, v4),
  mqttPacket.generate({ cmd: 'pingreq' }),
];
const stream = Buffer.concat(packets);

test('framing: the same packets whatever the split, at every byte of the stream', () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    const { framer: f, seen } = framer();
    f.push(stream.subarray(0, cut));
    f.push(stream.subarray(cut));
    assert.deepEqual(seen.packets, packets, `cut at ${cut}`);
    assert.deepEqual(seen.errors, []);
  }
  const { framer: f, seen } = framer();
  for (let i = 0; i < stream.length; i++) f.push(stream.subarray(i, i + 1));
  assert.deepEqual(seen.packets, packets, 'a byte at a time');
  assert.equal(seen.bodies[2]!.length, 0);
  assert.equal(seen.bodies[4]!.toString('hex'), '0009');
});

test('framing: a remaining length of more than 4 bytes is malformed, however it arrives', () => {
  const bad = Buffer.concat([packets[2]!, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), packets[2]!]);
  for (let cut = 0; cut <= bad.length; cut++) {
    const { framer: f, seen } = framer();
    f.push(bad.subarray(0, cut));
    f.push(bad.subarray(cut));
    assert.equal(seen.packets.length, 1, `cut at ${cut}`);
    assert.deepEqual(seen.errors, ['FERRY_MQTT_MALFORMED']);
  }
});

test('framing: a packet over the limit is refused from its fixed header alone; one at the limit passes', () => {
  const atLimit = mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(200), qos: 0, dup: false, retain: false }, v4);
  const { framer: f, seen } = framer(atLimit.length);
  f.push(atLimit);
  assert.equal(seen.packets.length, 1);
  // 0x30, then 0x80 0x80 0x80 0x64: 200 MiB announced, none of it sent
  f.push(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x64]));
  assert.deepEqual(seen.tooLarge, [200 * 1024 * 1024 + 5]);
  f.push(atLimit);
  assert.equal(seen.packets.length, 1, 'nothing is read after the refusal');
});

test('framing: nothing more is handed on once the receiver says stop', () => {
  const { framer: f, seen } = framer(1 << 20, 2);
  f.push(stream);
  f.push(stream);
  assert.equal(seen.packets.length, 2);
});

function decode(packet: Buffer, v5 = false): ReturnType<typeof decodePublish> {
  let at = 1;
  while (packet[at]! & 0x80) at++;
  return decodePublish(packet, 0, at + 1, packet.length, v5);
}

test('PUBLISH decoding agrees with mqtt-packet for 3.1.1 and for 5.0 without properties', () => {
  for (const [qos, messageId] of [[0, undefined], [1, 1], [2, 40000]] as const) {
    for (const version of [4, 5] as const) {
      const payload = Buffer.from(`payload ${qos}`);
      const bytes = mqttPacket.generate({ cmd: 'publish', topic: 'sensors/é/1', payload, qos, dup: qos > 0, retain: qos === 1, ...(messageId === undefined ? {} : { messageId }) }, { protocolVersion: version });
      assert.deepEqual({ ...decode(bytes, version === 5) }, { topic: 'sensors/é/1', qos, dup: qos > 0, retain: qos === 1, packetId: messageId ?? 0, payload });
    }
  }
  const empty = mqttPacket.generate({ cmd: 'publish', topic: 'e', payload: Buffer.alloc(0), qos: 1, messageId: 7, dup: false, retain: false }, v4);
  assert.equal(decode(empty)!.payload.length, 0);
});

test('PUBLISH decoding: an MQTT 5 PUBLISH with properties is left to mqtt-packet', () => {
  const bytes = mqttPacket.generate({ cmd: 'publish', topic: 'a', payload: Buffer.from('x'), qos: 1, messageId: 3, dup: false, retain: false, properties: { contentType: 'text/plain' } }, { protocolVersion: 5 });
  assert.equal(decode(bytes, true), undefined);
});

test('PUBLISH decoding: what is malformed is refused, topic rules are left to the session', () => {
  const malformed = { code: 'FERRY_MQTT_MALFORMED' };
  // QoS 3 ([MQTT-3.3.1-4])
  assert.throws(() => decode(Buffer.from([0x36, 5, 0, 1, 0x61, 0, 1])), malformed);
  // a topic length past the end of the packet
  assert.throws(() => decode(Buffer.from([0x30, 3, 0, 5, 0x61])), malformed);
  assert.throws(() => decode(Buffer.from([0x30, 1, 0])), malformed);
  assert.throws(() => decode(Buffer.from([0x30, 0])), malformed);
  // QoS 1 without room for its packet identifier
  assert.throws(() => decode(Buffer.from([0x32, 4, 0, 1, 0x61, 0])), malformed);
  // QoS 1 with packet identifier 0 ([MQTT-2.3.1-1]), QoS 0 with DUP ([MQTT-3.3.1-2])
  assert.throws(() => decode(Buffer.from([0x32, 5, 0, 1, 0x61, 0, 0])), malformed);
  assert.throws(() => decode(Buffer.from([0x38, 4, 0, 1, 0x61, 0x78])), malformed);
  // MQTT 5 without room for its property length
  assert.throws(() => decode(Buffer.from([0x30, 3, 0, 1, 0x61]), true), malformed);
  // a topic with a wildcard, and a zero-length topic, parse: the session refuses them with its own reason code
  assert.equal(decode(Buffer.from([0x30, 4, 0, 2, 0x61, 0x2b]))!.topic, 'a+');
  assert.deepEqual({ ...decode(Buffer.from([0x30, 3, 0, 0, 0x78]))! }, { topic: '', qos: 0, dup: false, retain: false, packetId: 0, payload: Buffer.from('x') });
});

test('PUBLISH decoding: a topic like the one before is that one; one of the same length but other bytes is decoded', () => {
  const known = { bytes: Buffer.from('a/b'), text: 'a/b' };
  const same = decodePublish(Buffer.from([0x30, 6, 0, 3, 0x61, 0x2f, 0x62, 0x78]), 0, 2, 8, false, known)!;
  assert.equal(same.topic, 'a/b');
  assert.equal(same.payload.toString(), 'x');
  assert.equal(decodePublish(Buffer.from([0x30, 6, 0, 3, 0x61, 0x2f, 0x63, 0x78]), 0, 2, 8, false, known)!.topic, 'a/c');
  assert.equal(decodePublish(Buffer.from([0x30, 5, 0, 2, 0x61, 0x2f, 0x78]), 0, 2, 7, false, known)!.topic, 'a/');
});
