/**
 * The records of RabbitMQ's model: a declared queue's spec in its Queue record (older records, a
 * name only, still read), exchanges, bindings with typed header conditions, and a published
 * message's exchange and routing key in its message record.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildMessage, copyMessage } from '../../src/core/message.js';
import { decodeBinding, decodeExchange, decodeQueue, decodeStoredMessage, encodeBinding, encodeExchange, encodeQueue, encodeStoredMessage, RecordType } from '../../src/core/records.js';

test('a queue record keeps a declared spec; an older record is a name only', () => {
  assert.deepEqual(decodeQueue(encodeQueue({ name: 'plain' })), { name: 'plain' });
  const spec = { name: 'q', durable: true, exclusive: false, autoDelete: true, arguments: { messageTtl: 0, expires: 5000, deadLetterExchange: '', deadLetterRoutingKey: 'dead', maxLength: 3, maxLengthBytes: 1024, overflow: 'reject-publish-dlx' as const, maxPriority: 5, singleActiveConsumer: true, deliveryLimit: 2 } };
  assert.deepEqual(decodeQueue(encodeQueue({ name: 'q', spec })), { name: 'q', spec });
  const bare = { name: 'b', durable: true, exclusive: false, autoDelete: false, arguments: {} };
  assert.deepEqual(decodeQueue(encodeQueue({ name: 'b', spec: bare })), { name: 'b', spec: bare });
});

test('exchange and binding records round-trip, header values keeping their types', () => {
  const exchange = { name: 'e', type: 'headers' as const, durable: true, autoDelete: true, internal: true, alternateExchange: 'ae' };
  assert.deepEqual(decodeExchange(encodeExchange(exchange)), exchange);
  const values = new Map<string, string | number | bigint | boolean | Buffer | null>([['s', '1'], ['n', 1], ['l', 1n], ['b', true], ['x', Buffer.from([1, 2])], ['v', null]]);
  const binding = { source: 'e', destination: { kind: 'exchange' as const, name: 'f' }, routingKey: 'a.#', headers: { match: 'any' as const, values } };
  assert.deepEqual(decodeBinding(encodeBinding(binding)), binding);
  for (const match of ['all', 'all-with-x', 'any-with-x'] as const) {
    const moded = { ...binding, headers: { match, values: new Map([['x-k', 'v']]) } };
    assert.deepEqual(decodeBinding(encodeBinding(moded)), moded);
  }
  const plain = { source: 'amq.topic', destination: { kind: 'queue' as const, name: 'q' }, routingKey: '' };
  assert.deepEqual(decodeBinding(encodeBinding(plain)), plain);
});

test('a published message keeps its exchange and routing key in its record; a sent one has none', () => {
  const published = buildMessage({ body: Buffer.from('x') }, 'ID:1', 1, undefined, { destination: { kind: 'topic', name: 'orders' }, exchange: 'orders', routingKey: 'eu.paid' });
  const back = decodeStoredMessage(encodeStoredMessage(published), RecordType.StoredMessage).message;
  assert.deepEqual([back.exchange, back.routingKey, back.destination], ['orders', 'eu.paid', { kind: 'topic', name: 'orders' }]);
  const sent = buildMessage({ destination: { kind: 'queue', name: 'q', temporary: true }, body: Buffer.from('y') }, 'ID:2', 1);
  const again = decodeStoredMessage(encodeStoredMessage(sent), RecordType.StoredMessage).message;
  assert.deepEqual([again.exchange, again.routingKey, again.destination], [undefined, undefined, { kind: 'queue', name: 'q', temporary: true }]);
});

test('a message\'s checked user id is kept in its record, also when recovery leaves the body on disk', () => {
  const message = buildMessage({ destination: { kind: 'queue', name: 'q' }, body: Buffer.from('body'), userId: 'alice', properties: new Map([['JMSXUserID', 'mallory']]) }, 'ID:3', 1);
  const record = encodeStoredMessage(message);
  const whole = decodeStoredMessage(record, RecordType.StoredMessage);
  assert.deepEqual([whole.message.userId, whole.message.properties.get('JMSXUserID'), whole.body?.toString()], ['alice', 'mallory', 'body']);
  const headers = decodeStoredMessage(record.subarray(0, record.length - 4), RecordType.StoredMessage);
  assert.deepEqual([headers.message.userId, headers.body, headers.bodyLength], ['alice', undefined, 4]);
  const none = decodeStoredMessage(encodeStoredMessage(buildMessage({ destination: { kind: 'queue', name: 'q' }, body: Buffer.alloc(0) }, 'ID:4', 1)), RecordType.StoredMessage);
  assert.equal(none.message.userId, undefined);
});

test('a message\'s native encoding is kept in its record, and a copy with changed properties is no longer exact', () => {
  const native = { protocol: 'amqp091', bytes: Buffer.from([0x20, 0, 2]), exact: true };
  const message = buildMessage({ destination: { kind: 'queue', name: 'q' }, body: Buffer.from('b'), native }, 'ID:5', 1);
  assert.deepEqual(decodeStoredMessage(encodeStoredMessage(message), RecordType.StoredMessage).message.native, native);
  const moved = copyMessage(message, { destination: { kind: 'queue', name: 'r' } });
  assert.equal(moved.native, native);
  const dead = copyMessage(message, { properties: new Map([['x-death', '[]']]), expiration: 0 });
  assert.deepEqual(decodeStoredMessage(encodeStoredMessage(dead), RecordType.StoredMessage).message.native, { ...native, exact: false });
});
