import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { hasWildcard, matchesPattern } from '../../src/core/address.js';
import { buildMessage } from '../../src/core/message.js';
import { encodePublish, messageProperties, messageQos, parseFilter, publishToMessage, topicFromFerry, topicToFerry } from '../../src/protocols/mqtt/index.js';
import { encodeMessageProperties } from '../../src/protocols/mqtt/mapping.js';
import { durableData, durableName, readDurable } from '../../src/protocols/mqtt/durable-session.js';

test('topic names: "/" and "." swap, wildcards are refused in names', () => {
  assert.equal(topicToFerry('a/b/c'), 'a.b.c');
  assert.equal(topicToFerry('v1.2/x'), 'v1/2.x');
  assert.equal(topicFromFerry(topicToFerry('/lead/and.dot/')), '/lead/and.dot/');
  for (const bad of ['a/+', 'a/#', '', 'a\u0000']) assert.throws(() => topicToFerry(bad), { code: 'FERRY_DESTINATION_INVALID' }, bad);
});

test('topic names: "*" and ">", which are not MQTT wildcards, make Ferry names without wildcards, and every name comes back as it went', () => {
  for (const name of ['a*b', 'a/*/c', '>', 'x/>', '\uE000', '\uE000s', 'a\uE000*>.b/']) {
    const ferry = topicToFerry(name);
    assert.ok(!hasWildcard(ferry), `${JSON.stringify(name)} -> ${JSON.stringify(ferry)}`);
    assert.equal(topicFromFerry(ferry), name);
  }
  assert.notEqual(topicToFerry('a*'), topicToFerry('a\uE000s'));
  // a filter matches such names level by level, as any other
  assert.deepEqual(parseFilter('a/+/*').patterns, [`a.*.${topicToFerry('*')}`]);
  assert.ok(matchesPattern(parseFilter('sensors/+/t*').patterns[0]!, topicToFerry('sensors/x/t*')));
});

test('topic filters: + is *, # is > and also its parent level; $share is split off; bad filters refused', () => {
  assert.deepEqual(parseFilter('a/+/c').patterns, ['a.*.c']);
  assert.deepEqual(parseFilter('a/#').patterns, ['a.>', 'a']);
  assert.deepEqual(parseFilter('#').patterns, ['>']);
  // the parent of `/#` is the empty name, which no topic has
  assert.deepEqual(parseFilter('/#').patterns, ['.>']);
  assert.deepEqual(parseFilter('$share/g1/s/+'), { filter: 's/+', shareName: 'g1', patterns: ['s.*'] });
  for (const bad of ['a/#/b', 'a/b#', 'a+/b', '', '$share/g', '$share//x']) assert.throws(() => parseFilter(bad), { code: 'FERRY_DESTINATION_INVALID' }, bad);
});

test('PUBLISH to message and back: QoS, expiry, properties', () => {
  const init = publishToMessage(
    {
      qos: 2,
      payload: Buffer.from('x'),
      properties: { payloadFormatIndicator: true, messageExpiryInterval: 10, contentType: 'text/plain', responseTopic: 'r/t', correlationData: Buffer.from('c'), userProperties: { k: 'v', multi: ['1', '2'] } },
    },
    'a.b',
    Buffer.from('x'),
    1000,
  );
  assert.equal(init.persistent, true);
  assert.equal(init.bodyKind, 'text');
  assert.equal(init.expiration, 11_000);
  assert.deepEqual(init.replyTo, { kind: 'topic', name: 'r.t' });
  assert.equal(init.correlationId, 'c');
  const message = buildMessage(init, 'ID:1', 1000);
  assert.equal(messageQos(message), 2);
  const props = messageProperties(message);
  assert.deepEqual({ ...props, userProperties: { ...props.userProperties } }, {
    payloadFormatIndicator: true,
    contentType: 'text/plain',
    responseTopic: 'r/t',
    correlationData: Buffer.from('c'),
    userProperties: { k: 'v', multi: ['1', '2'] },
  });
  assert.equal(message.properties.get('multi'), '2', 'selectors and other protocols see a repeated name\'s last value');
  assert.equal(messageQos(buildMessage({ destination: init.destination, body: Buffer.alloc(0) }, 'ID:2', 0)), 0);
});

test('encodePublish writes what mqtt-packet parses, for 3.1.1 and 5.0', () => {
  const message = buildMessage(
    { destination: { kind: 'topic', name: 't.x' }, body: Buffer.from('payload'), bodyKind: 'text', persistent: true, properties: new Map([['k', 'v']]) },
    'ID:3',
    0,
  );
  for (const version of [4, 5] as const) {
    const bytes = encodePublish({
      topic: Buffer.from('t/x'),
      qos: 1,
      dup: true,
      retain: true,
      packetId: 513,
      properties: version === 5 ? encodeMessageProperties(message) : undefined,
      expiry: version === 5 ? 30 : undefined,
      topicAlias: version === 5 ? 2 : undefined,
      subscriptionIds: version === 5 ? [300] : undefined,
      payload: message.body,
    });
    const parser = mqttPacket.parser({ protocolVersion: version });
    const packets: mqttPacket.IPublishPacket[] = [];
    parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd === 'publish') packets.push(p);
    });
    // every split point
    for (let cut = 0; cut <= bytes.length; cut++) {
      parser.parse(bytes.subarray(0, cut));
      parser.parse(bytes.subarray(cut));
    }
    assert.equal(packets.length, bytes.length + 1);
    const p = packets[0]!;
    assert.equal(p.topic, 't/x');
    assert.equal(p.qos, 1);
    assert.equal(p.dup, true);
    assert.equal(p.retain, true);
    assert.equal(p.messageId, 513);
    assert.equal(p.payload.toString(), 'payload');
    if (version === 5) {
      assert.equal(p.properties?.payloadFormatIndicator, true);
      assert.equal(p.properties?.messageExpiryInterval, 30);
      assert.equal(p.properties?.topicAlias, 2);
      assert.deepEqual(p.properties?.subscriptionIdentifier, 300);
      assert.deepEqual({ ...p.properties?.userProperties }, { k: 'v' });
    }
  }
});

test("a persistent session's durable subscriptions: options read back from the record, and from names of the older form", () => {
  const info = (name: string, adapterData: string | undefined) => ({ name, topic: 't', selector: undefined, noLocal: false, adapterData, active: false });
  const data = durableData({ qos: 2, noLocal: true, rap: false, subscriptionId: 7 });
  assert.deepEqual(readDurable(info(durableName('sensors/#', 1), data)), { filter: 'sensors/#', part: 1, qos: 2, noLocal: true, rap: false, subscriptionId: 7 });
  assert.deepEqual(readDurable(info('2nr7p|sensors/#', undefined)), { filter: 'sensors/#', part: 1, qos: 2, noLocal: true, rap: true, subscriptionId: 7 });
  assert.deepEqual(readDurable(info('1|a/b', undefined)), { filter: 'a/b', part: 0, qos: 1, noLocal: false, rap: false, subscriptionId: undefined });
  // someone else's subscription under the same client id is left alone
  assert.equal(readDurable(info('orders', undefined)), undefined);
  assert.equal(readDurable(info('0|a', '{"qos":7}')), undefined);
});
