/**
 * Map and list properties (ActiveMQ's client allows them) and a TextMessage whose text is null are
 * part of core's message: its record keeps them, a copy keeps them, and the OpenWire mapping gives
 * them back from core's fields alone, as it must for a message read back from the store or copied
 * to another destination, where the client's own bytes are gone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildMessage, copyMessage, PROPERTY_WIRE_TYPES, type Message } from '../../src/core/message.js';
import { decodeMessage, decodeStoredMessage, encodeMessage, encodeStoredMessage, RecordType } from '../../src/core/records.js';
import { T, type WireMessage } from '../../src/protocols/openwire/commands.js';
import { toMessageInit, toWireMessage } from '../../src/protocols/openwire/mapping.js';
import { DataReader, DataWriter } from '../../src/protocols/openwire/data-stream.js';
import { readTypedMap, writeTypedMap } from '../../src/protocols/openwire/primitives.js';
import { messageHead } from '../../src/protocols/stomp/mapping.js';
import type { TypedValue } from '../../src/core/index.js';

const nested: Map<string, TypedValue> = new Map<string, TypedValue>([
  ['x', { t: 'int', v: 1 }],
  ['inner', { t: 'map', v: new Map<string, TypedValue>([['deep', { t: 'list', v: [{ t: 'string', v: 'z' }, { t: 'long', v: 7n }] }]]) }],
]);
const list: TypedValue = { t: 'list', v: [{ t: 'string', v: 'p' }, { t: 'int', v: 2 }, { t: 'list', v: [{ t: 'short', v: 3 }] }, { t: 'map', v: new Map<string, TypedValue>([['k', { t: 'string', v: 'v' }]]) }] };
const sentProperties = new Map<string, TypedValue>([
  ['pMap', { t: 'map', v: nested }],
  ['pList', list],
  ['pByte', { t: 'byte', v: -7 }],
]);

function marshalled(properties: ReadonlyMap<string, TypedValue>): Buffer {
  const writer = new DataWriter();
  writeTypedMap(writer, properties);
  return writer.finish();
}

function unmarshalled(bytes: Buffer | null): Map<string, TypedValue> | undefined {
  return bytes === null ? undefined : readTypedMap(new DataReader(bytes, 0, bytes.length));
}

/** A persistent TextMessage with no text, as ActiveMQ's client sends it. */
function sentWire(): WireMessage {
  const delivered = toWireMessage(buildMessage({ destination: { kind: 'queue', name: 'q' }, body: Buffer.alloc(0), bodyKind: 'text' }, 'ID:c-1:1:1:1', 1), 0);
  return { ...delivered, content: null, persistent: true, marshalledProperties: marshalled(sentProperties) };
}

function received(message: Message): { content: Buffer | null; properties: Map<string, TypedValue> | undefined } {
  const wire = toWireMessage(message, 0);
  assert.equal(wire.type, T.TEXT_MESSAGE);
  return { content: wire.content, properties: unmarshalled(wire.marshalledProperties) };
}

const sent = (): Message => buildMessage(toMessageInit(sentWire(), { kind: 'queue', name: 'a' }, { resolve: (kind, name) => ({ kind, name }) }, undefined), 'ID:x', 1);

test('a map or list property and a null text reach a JMS consumer from a copy, which lacks the client\'s own bytes', () => {
  const original = sent();
  assert.deepEqual(received(original), { content: null, properties: sentProperties });
  const copy = copyMessage(original, { destination: { kind: 'queue', name: 'b' } });
  assert.equal(copy.encodings, undefined);
  assert.deepEqual(received(copy), { content: null, properties: sentProperties });
  // an empty text stays an empty text
  const empty = buildMessage({ destination: { kind: 'queue', name: 'q' }, body: Buffer.alloc(0), bodyKind: 'text' }, 'ID:e', 1);
  assert.deepEqual(toWireMessage(empty, 0).content, Buffer.from([0, 0, 0, 0]));
});

test('the message record keeps map and list properties and a null text, in both layouts', () => {
  const copy = copyMessage(sent(), {});
  const stored = decodeStoredMessage(encodeStoredMessage(copy), RecordType.StoredMessage).message;
  const inner = decodeMessage(encodeMessage(copy));
  for (const back of [stored, inner]) {
    assert.equal(back.nullBody, true);
    assert.deepEqual(back.propertyTypes, new Map([['pMap', 'map'], ['pList', 'list'], ['pByte', 'byte']]));
    assert.deepEqual(back.properties, copy.properties);
    assert.deepEqual(received(back), { content: null, properties: sentProperties });
  }
  const plain = buildMessage({ destination: { kind: 'queue', name: 'q' }, body: Buffer.from('t'), bodyKind: 'text' }, 'ID:p', 1);
  assert.equal(decodeStoredMessage(encodeStoredMessage(plain), RecordType.StoredMessage).message.nullBody, false);
});

test('a record written before map, list and null text were kept reads as it did', () => {
  // wire types are numbered by their index in records: the older ones keep theirs
  assert.deepEqual(PROPERTY_WIRE_TYPES.slice(0, 6), ['byte', 'short', 'int', 'float', 'double', 'char']);
  // a StoredMessage record of the build before: a byte, a char, a float, a null property and a user id
  const older = Buffer.from(
    '020000000800000049443a6f6c642d31080100000071000400000000000000000000000000408f4000000000000000000000f87f00040000000100000062070002000000000000f03f010000006307050101000000780100000066070302000000000000f83f010000006e0001010000007500020000006869',
    'hex',
  );
  const back = decodeStoredMessage(older, RecordType.StoredMessage).message;
  assert.deepEqual(
    [back.id, back.body.toString(), back.bodyKind, back.userId, back.nullBody, back.properties, back.propertyTypes],
    ['ID:old-1', 'hi', 'text', 'u', false, new Map<string, unknown>([['b', 1], ['c', 'x'], ['f', 1.5], ['n', null]]), new Map([['b', 'byte'], ['c', 'char'], ['f', 'float']])],
  );
});

test('a STOMP consumer does not get map and list properties, which are OpenWire\'s bytes', () => {
  const head = messageHead(copyMessage(sent(), {}), '1.2', undefined);
  assert.doesNotMatch(head, /pMap|pList/);
  assert.match(head, /\npByte:-7\n/);
});
