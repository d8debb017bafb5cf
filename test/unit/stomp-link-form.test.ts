/**
 * The link form of STOMP's MESSAGE frame (src/protocols/stomp/link-form.ts), in both directions
 * through Ferry's own codec: a message reads back with its types, body kind, ids and the broker's
 * own properties; a property never becomes a header of its own name.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { duplicateIdOf } from '../../src/core/duplicates.js';
import { buildMessage } from '../../src/core/message.js';
import { decodeStoredMessage, encodeStoredMessage, RecordType } from '../../src/core/records.js';
import { compileSelector } from '../../src/core/selector/index.js';
import { StompParser, type StompFrame } from '../../src/protocols/stomp/codec.js';
import { linkMessageHead, readLinkFields } from '../../src/protocols/stomp/link-form.js';
import type { PropertyValue, PropertyWireType } from '../../src/core/index.js';

function parse(text: string): StompFrame {
  const frames: StompFrame[] = [];
  const parser = new StompParser({ maxFrameSize: 1 << 20, maxHeaderSize: 1 << 16, maxHeaders: 1000 }, (frame) => frames.push(frame), (err) => assert.fail(err));
  parser.version = '1.2';
  parser.push(Buffer.from(text));
  assert.equal(frames.length, 1);
  return frames[0]!;
}

const properties = new Map<string, PropertyValue>([
  ['anInt', 42], ['aByte', -7], ['aShort', 300], ['aFloat', 1.5], ['aDouble', 0.1], ['aChar', 'x'], ['aNumber', 2.5],
  ['aLong', 5_000_000_000n], ['aBoolean', false], ['aString', 'a:b\nc\\d'], ['someBytes', Buffer.from([0, 255])], ['aNull', null],
  ['ferry-user', 'admin'], ['name:with\ncolon', 'v'],
]);
const propertyTypes = new Map<string, PropertyWireType>([['anInt', 'int'], ['aByte', 'byte'], ['aShort', 'short'], ['aFloat', 'float'], ['aDouble', 'double'], ['aChar', 'char']]);

test('a message reads back from its link form with its types, body kind, ids and the broker\'s own properties', () => {
  const message = buildMessage(
    { destination: { kind: 'queue', name: 'q' }, body: Buffer.from([1, 2]), bodyKind: 'map', timestamp: 1234, userId: 'alice', properties, propertyTypes, brokerProperties: new Map<string, PropertyValue>([['FerryNetworkPath', '|A|'], ['FerryNetworkHops', 1]]) },
    'ID:producer-1:1:1:7',
    1,
  );
  const frame = parse(`${linkMessageHead(message, undefined)}subscription:s\nack:1\n\n\u0001\u0002\0`);
  const fields = readLinkFields(frame.headers);
  assert.equal(fields.id, 'ID:producer-1:1:1:7');
  assert.equal(fields.timestamp, 1234);
  assert.equal(fields.bodyKind, 'map');
  assert.equal(fields.userId, 'alice');
  assert.deepEqual(fields.properties, properties);
  assert.deepEqual(fields.propertyTypes, propertyTypes);
  assert.deepEqual(fields.brokerProperties, new Map<string, PropertyValue>([['FerryNetworkPath', '|A|'], ['FerryNetworkHops', 1]]));
  // no header by a property's own name: a producer's "ferry-user" cannot pass for the checked one
  assert.equal(frame.headers.get('aString'), undefined);
  assert.equal(frame.headers.get('ferry-user'), 'alice');
  assert.deepEqual(frame.body, Buffer.from([1, 2]));
});

test('a frame that is not in the link form is refused, not guessed at', () => {
  assert.throws(() => readLinkFields(new Map([['message-id', 'x']])), { code: 'FERRY_STOMP_PROTOCOL' });
  assert.throws(() => readLinkFields(new Map([['ferry-body', 'text'], ['ferry-property.n', 'int:abc']])), { code: 'FERRY_STOMP_PROTOCOL' });
  assert.throws(() => readLinkFields(new Map([['ferry-body', 'text'], ['ferry-property.n', 'decimal:1']])), { code: 'FERRY_STOMP_PROTOCOL' });
});

test('the broker\'s own properties are kept in the message record, read by selectors and duplicate detection before a producer\'s', () => {
  const message = buildMessage(
    { destination: { kind: 'queue', name: 'q' }, body: Buffer.from('b'), properties: new Map([['FerryNetworkHops', '9'], ['_AMQ_DUPL_ID', 'mine']]), brokerProperties: new Map<string, PropertyValue>([['FerryNetworkHops', 1], ['_AMQ_DUPL_ID', 'ID:1']]) },
    'ID:1',
    1,
  );
  const read = decodeStoredMessage(encodeStoredMessage(message), RecordType.StoredMessage).message;
  assert.deepEqual(read.brokerProperties, message.brokerProperties);
  assert.deepEqual(read.properties, message.properties);
  assert.ok(compileSelector('FerryNetworkHops < 4').matches(read));
  assert.equal(duplicateIdOf(read), 'ID:1');
  assert.ok(!compileSelector('FerryNetworkHops < 4').matches(buildMessage({ destination: { kind: 'queue', name: 'q' }, body: Buffer.alloc(0), properties: new Map([['FerryNetworkHops', 9]]) }, 'ID:2', 1)));
});
