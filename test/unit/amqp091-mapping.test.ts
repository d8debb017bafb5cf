import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildMessage } from '../../src/core/message.js';
import { Decimal, Timestamp, Typed } from '../../src/protocols/amqp091/field-table.js';
import { decodeContentHeader, encodeContentHeader, encodeProperties, type BasicProperties } from '../../src/protocols/amqp091/frames.js';
import { basicProperties, propertiesOf, publishToInit } from '../../src/protocols/amqp091/mapping.js';
import { Amqp091Error } from '../../src/protocols/amqp091/errors.js';

const NOW = 1_700_000_000_000;

describe('AMQP 0-9-1 mapping', () => {
  const props: BasicProperties = {
    contentType: 'text/plain',
    contentEncoding: 'utf-8',
    headers: new Map<string, never>([
      ['s', 'text' as never],
      ['byte', new Typed('b', -3) as never],
      ['long', 5n as never],
      ['ts', new Timestamp(1_600_000_000n) as never],
      ['dec', new Decimal(2, 12345) as never],
      ['nested', new Map([['a', [1, 'x']]]) as never],
    ]),
    deliveryMode: 2,
    priority: 12,
    correlationId: 'c',
    replyTo: 'replies',
    expiration: '5000',
    messageId: 'm1',
    timestamp: 1_650_000_000,
    type: 't',
    userId: 'alice',
    appId: 'app',
  };

  it('publish -> core: every property, typed headers flattened, nested values as JSON text', () => {
    const init = publishToInit(props, encodeProperties(props), Buffer.from('body'), 'alice', NOW);
    assert.equal(init.bodyKind, 'text');
    assert.equal(init.persistent, true);
    assert.equal(init.priority, 9);
    assert.equal(init.expiration, NOW + 5000);
    assert.equal(init.correlationId, 'c');
    assert.equal(init.id, 'm1');
    assert.equal(init.type, 't');
    assert.equal(init.timestamp, 1_650_000_000_000);
    assert.deepEqual(init.replyTo, { kind: 'queue', name: 'replies' });
    const p = init.properties!;
    assert.equal(p.get('s'), 'text');
    assert.equal(p.get('byte'), -3);
    assert.equal(p.get('long'), 5n);
    assert.equal(p.get('ts'), 1_600_000_000_000);
    assert.equal(p.get('dec'), '123.45');
    assert.equal(p.get('nested'), '{"a":[1,"x"]}');
    assert.equal(p.get('content-type'), 'text/plain');
    assert.equal(p.get('content-encoding'), 'utf-8');
    assert.equal(p.get('app-id'), 'app');
    assert.equal(init.userId, 'alice');
    assert.equal(p.has('JMSXUserID'), false);
  });

  it('a user-id that is not the connection\'s user, or a bad expiration, is 406', () => {
    assert.throws(() => publishToInit({ userId: 'mallory' }, Buffer.alloc(2), Buffer.alloc(0), 'alice', NOW), (e: unknown) => e instanceof Amqp091Error && e.replyCode === 406);
    assert.throws(() => publishToInit({ expiration: '-1' }, Buffer.alloc(2), Buffer.alloc(0), 'alice', NOW), (e: unknown) => e instanceof Amqp091Error && e.replyCode === 406);
  });

  it('core -> properties: a message from another protocol, encoded once and kept', () => {
    const message = buildMessage(
      {
        destination: { kind: 'queue', name: 'q' },
        body: Buffer.from('x'),
        bodyKind: 'text',
        persistent: true,
        priority: 7,
        expiration: NOW + 30_000,
        timestamp: NOW,
        correlationId: 'corr',
        replyTo: { kind: 'topic', name: 'back' },
        type: 'kind',
        properties: new Map<string, string | number | bigint | boolean>([['region', 'eu'], ['n', 3], ['big', 2n ** 40n], ['ok', true], ['content-type', 'text/x']]),
      },
      'ID:1',
      NOW,
    );
    const p = basicProperties(message, NOW);
    assert.deepEqual(p, {
      contentType: 'text/x',
      headers: new Map<string, unknown>([['region', 'eu'], ['n', 3], ['big', 2n ** 40n], ['ok', true]]),
      deliveryMode: 2,
      priority: 7,
      correlationId: 'corr',
      replyTo: 'back',
      expiration: '30000',
      messageId: 'ID:1',
      timestamp: NOW / 1000,
      type: 'kind',
    });
    const encoded = propertiesOf(message, NOW);
    assert.equal(propertiesOf(message, NOW), encoded, 'encoded once per message');
    const frame = encodeContentHeader(1, 1, encoded);
    assert.deepEqual(decodeContentHeader(frame.subarray(7, frame.length - 1)).properties, p);
  });
});
