import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isFerryError } from '../../src/errors.js';
import { T, nestedTypes, schemas, type DataStructure } from '../../src/protocols/openwire/commands.js';
import { DataReader, DataWriter, encodeModifiedUtf8String } from '../../src/protocols/openwire/data-stream.js';
import { CommandSplitter, LooseCodec } from '../../src/protocols/openwire/marshal.js';
import type { TypedValue } from '../../src/core/index.js';
import { readProperties, readTypedMap, writeProperties, writeTypedMap } from '../../src/protocols/openwire/primitives.js';
import { toMessageId, messageIdText } from '../../src/protocols/openwire/mapping.js';

function code(err: unknown): string | undefined {
  return isFerryError(err) ? err.code : undefined;
}

test('strings travel in Java\'s modified UTF-8: NUL in two bytes, astral characters as two surrogates of three bytes', () => {
  assert.deepEqual([...encodeModifiedUtf8String('a\u0000b')], [0x61, 0xc0, 0x80, 0x62]);
  assert.deepEqual([...encodeModifiedUtf8String('\u{1F600}')], [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]);
  for (const text of ['', 'plain ascii', 'ünïcödé', 'a\u0000b', 'emoji \u{1F600} and 中文']) {
    const writer = new DataWriter(1);
    writer.utf(text);
    const bytes = writer.finish();
    assert.equal(new DataReader(bytes, 0, bytes.length).utf(), text);
  }
  const bad = Buffer.from([0x00, 0x02, 0xc3, 0x41]);
  assert.throws(() => new DataReader(bad, 0, bad.length).utf(), (err) => code(err) === 'FERRY_OPENWIRE_MALFORMED');
});

test('the writer keeps what it wrote when it grows mid-command', () => {
  const writer = new DataWriter(2);
  writer.int(7);
  writer.bytes(Buffer.alloc(100, 0xab));
  writer.long(2 ** 40 + 5);
  writer.utf('after growth');
  const bytes = writer.finish();
  const reader = new DataReader(bytes, 0, bytes.length);
  assert.equal(reader.int(), 7);
  assert.ok(reader.bytes(100).every((b) => b === 0xab));
  assert.equal(reader.long(), 2 ** 40 + 5);
  assert.equal(reader.utf(), 'after growth');
});

/** A value for every field of a structure, so a round trip checks each field's encoding and order. */
function sample(type: number, depth = 0): DataStructure {
  const structure: DataStructure = { type };
  let n = 1;
  for (const field of schemas.get(type)!) {
    n++;
    switch (field.kind) {
      case 'bool':
        structure[field.name] = n % 2 === 0;
        break;
      case 'byte':
        structure[field.name] = -n;
        break;
      case 'short':
      case 'int':
        structure[field.name] = n * 1000;
        break;
      case 'long':
        structure[field.name] = n * 2 ** 33;
        break;
      case 'exactLong':
        // past 2^53, where a number would round it
        structure[field.name] = (1n << 62n) + BigInt(n);
        break;
      case 'string':
        structure[field.name] = `${field.name}-ü-${n}`;
        break;
      case 'nested':
      case 'cached': {
        // a field that holds only some types gets one of them, built the same way
        const held = nestedTypes.get(field.name);
        if (depth > 1) structure[field.name] = null;
        else if (held === undefined) structure[field.name] = { type: T.CONNECTION_ID, value: `ID:c-${n}` };
        else structure[field.name] = sample([...held][0]!, depth + 1);
        break;
      }
      case 'throwable':
        structure[field.name] = { className: 'java.lang.IllegalStateException', message: `m${n}` };
        break;
      case 'bytes':
        structure[field.name] = Buffer.from([n, 0, 255]);
        break;
      case 'array':
        structure[field.name] = [{ type: T.BROKER_ID, value: `b${n}` }, null];
        break;
      case 'magic':
        structure[field.name] = Buffer.from('ActiveMQ');
        break;
    }
  }
  return structure;
}

test('every structure in the table survives encode and decode, field by field', () => {
  const codec = new LooseCodec(12);
  for (const type of schemas.keys()) {
    const structure = sample(type);
    const bytes = codec.encode(structure);
    assert.equal(bytes.readInt32BE(0), bytes.length - 4, `size prefix of type ${type}`);
    assert.deepEqual(codec.decode(bytes, 4, bytes.length), structure, `type ${type}`);
  }
});

test('a command is written into the room sized for it, and a room of the wrong size is refused without writing past it', () => {
  const codec = new LooseCodec(12);
  for (const type of schemas.keys()) {
    const structure = sample(type);
    const size = codec.size(structure);
    const slab = Buffer.alloc(size + 16, 0xee);
    codec.encodeInto(structure, slab.subarray(8, 8 + size));
    assert.ok(slab.subarray(8, 8 + size).equals(codec.encode(structure)), `type ${type}`);
    assert.ok(slab.subarray(0, 8).every((b) => b === 0xee) && slab.subarray(8 + size).every((b) => b === 0xee), `type ${type}: nothing outside its room`);
    const short = Buffer.alloc(size);
    assert.throws(() => codec.encodeInto(structure, short.subarray(0, size - 1)), /sized/);
  }
  // a string no 16-bit length can carry is refused while sizing, before any room is taken
  const tooLong = { type: T.MESSAGE_ID, textView: 'é'.repeat(40_000), producerId: null, producerSequenceId: 1, brokerSequenceId: 1 };
  assert.throws(() => codec.size(tooLong), (err) => code(err) === 'FERRY_OPENWIRE_MALFORMED');
});

test('fields newer than the negotiated version are left out both ways', () => {
  const v9 = new LooseCodec(9);
  const id = { type: T.MESSAGE_ID, textView: 'ID:x', producerId: null, producerSequenceId: 3, brokerSequenceId: 4 };
  const bytes = v9.encode(id);
  // type, producerId absent (1), two longs: no textView in version 9
  assert.equal(bytes.length, 4 + 1 + 1 + 8 + 8);
  assert.deepEqual(v9.decode(bytes, 4, bytes.length), { type: T.MESSAGE_ID, producerId: null, producerSequenceId: 3, brokerSequenceId: 4 });
});

test('a command that ends early, has bytes left over or names an unknown type is malformed', () => {
  const codec = new LooseCodec(12);
  const good = codec.encode({ type: T.SESSION_INFO, commandId: 1, responseRequired: true, sessionId: { type: T.SESSION_ID, connectionId: 'ID:c', value: 1 } });
  assert.throws(() => codec.decode(good, 4, good.length - 1), (err) => code(err) === 'FERRY_OPENWIRE_MALFORMED');
  const longer = Buffer.concat([good, Buffer.from([0])]);
  assert.throws(() => codec.decode(longer, 4, longer.length), (err) => code(err) === 'FERRY_OPENWIRE_MALFORMED');
  const unknown = Buffer.from([0x7e, 0, 0, 0, 1, 0]);
  assert.throws(() => codec.decode(unknown, 0, unknown.length), (err) => code(err) === 'FERRY_OPENWIRE_MALFORMED');
});

test('the splitter joins commands cut across chunks and refuses an oversized one from its prefix', () => {
  const codec = new LooseCodec(12);
  const commands = [1, 2, 3].map((commandId) => codec.encode({ type: T.KEEP_ALIVE_INFO, commandId, responseRequired: false }));
  commands.push(codec.encode({ type: T.BYTES_MESSAGE, commandId: 4, responseRequired: false, content: Buffer.alloc(5000, 7) }));
  const stream = Buffer.concat(commands);
  const seen: number[] = [];
  const splitter = new CommandSplitter(1 << 20, (buffer, start, end) => seen.push(codec.decode(buffer, start, end)!['commandId'] as number));
  for (let at = 0; at < stream.length; at += 3) splitter.push(stream.subarray(at, at + 3));
  assert.deepEqual(seen, [1, 2, 3, 4]);

  const small = new CommandSplitter(100, () => assert.fail('no command is whole'));
  const prefix = Buffer.alloc(4);
  prefix.writeInt32BE(101, 0);
  assert.throws(() => small.push(prefix), (err) => code(err) === 'FERRY_OPENWIRE_FRAME_TOO_LARGE');
  assert.throws(() => new CommandSplitter(100, () => {}).push(Buffer.alloc(4)), (err) => code(err) === 'FERRY_OPENWIRE_FRAME_TOO_LARGE');
});

test('typed maps keep every JMS type; core properties keep each type, narrow ones through the kept wire types', () => {
  const map = new Map<string, TypedValue>([
    ['bool', { t: 'boolean', v: true }],
    ['byte', { t: 'byte', v: -3 }],
    ['short', { t: 'short', v: 300 }],
    ['int', { t: 'int', v: -70000 }],
    ['long', { t: 'long', v: 1n << 62n }],
    ['float', { t: 'float', v: 1.5 }],
    ['double', { t: 'double', v: 0.1 }],
    ['char', { t: 'char', v: 'x' }],
    ['string', { t: 'string', v: 'text' }],
    ['big', { t: 'string', v: 'y'.repeat(20000) }],
    ['bytes', { t: 'bytes', v: Buffer.from([1, 2]) }],
    ['null', { t: 'null' }],
    ['nested', { t: 'map', v: new Map([['inner', { t: 'list', v: [{ t: 'int', v: 1 }] }]]) }],
  ]);
  const writer = new DataWriter();
  writeTypedMap(writer, map);
  const bytes = writer.finish();
  assert.deepEqual(readTypedMap(new DataReader(bytes, 0, bytes.length)), map);

  const { properties, types } = readProperties(bytes);
  assert.equal(properties.get('long'), 1n << 62n);
  assert.equal(properties.get('int'), -70000);
  assert.equal(properties.get('byte'), -3);
  // a map or list is kept as its own encoding, typed so that it is written back as what it was
  assert.ok(Buffer.isBuffer(properties.get('nested')));
  // the types core keeps are exactly those a number or string alone would not give back
  assert.deepEqual(types, new Map([['byte', 'byte'], ['short', 'short'], ['float', 'float'], ['char', 'char'], ['nested', 'map']]));
  const again = readProperties(writeProperties(properties, types));
  assert.deepEqual(again.properties, properties);
  assert.deepEqual(again.types, types);
  const written = writeProperties(properties, types);
  assert.deepEqual(readTypedMap(new DataReader(written, 0, written.length))?.get('nested'), map.get('nested'));
  // without the kept types, each narrow property comes back as the type its value suggests
  assert.equal(readProperties(writeProperties(properties)).types, undefined);
});

test('a JMS producer\'s message id keeps its producer and sequence; any other keeps its text under a sequence of its own, so equal ids from other protocols\' clients never look like one message', () => {
  const jms = 'ID:host-37851-1701111-1:1:2:3:42';
  const id = toMessageId(jms);
  assert.equal(id.producerId!.connectionId, 'ID:host-37851-1701111-1:1');
  assert.equal(id.producerId!.sessionId, 2);
  assert.equal(id.producerId!.value, 3);
  assert.equal(id.producerSequenceId, 42);
  assert.equal(messageIdText(id), jms);
  const [first, second] = [toMessageId('msg-1'), toMessageId('msg-1')];
  assert.equal(messageIdText(first), 'ID:msg-1');
  assert.equal(messageIdText(second), 'ID:msg-1');
  assert.equal(first.producerId!.connectionId, second.producerId!.connectionId);
  assert.notEqual(first.producerSequenceId, second.producerSequenceId, 'the client\'s duplicate check tells them apart');
});

test('a message id is split where the pattern <text>:<n>:<n>:<n> splits it, and any other kept as text', () => {
  // the pattern as a regular expression, greedy as written, against the parser's hand-written scan
  const full = /^(.+):(\d+):(\d+):(\d+)$/;
  fc.assert(
    fc.property(fc.array(fc.stringMatching(/^([a-z-]?[0-9]{0,3}|[0-9]{1,3})$/), { maxLength: 6 }).map((parts) => parts.join(':')), (coreId) => {
      const id = toMessageId(coreId);
      const f = full.exec(coreId);
      if (f !== null) {
        assert.deepEqual([id.producerId!.connectionId, id.producerId!.sessionId, id.producerId!.value, id.producerSequenceId, id.textView], [f[1], Number(f[2]), Number(f[3]), Number(f[4]), null]);
        return;
      }
      assert.equal(id.textView, coreId);
      assert.match(id.producerId!.connectionId, /^ID:ferry-/);
    }),
    { numRuns: 2000 },
  );
});

test('any bytes either decode or are refused as malformed: never another kind of failure', () => {
  const codec = new LooseCodec(12);
  const valid = [
    codec.encode({ type: T.TEXT_MESSAGE, commandId: 5, responseRequired: true, destination: { type: T.QUEUE, physicalName: 'q' }, content: Buffer.from([0, 0, 0, 2, 0x68, 0x69]), marshalledProperties: writeProperties([['p', 1], ['s', 'x']]) }),
    codec.encode(sample(T.CONSUMER_INFO)),
    codec.encode(sample(T.MESSAGE_ACK)),
    codec.encode(sample(T.WIREFORMAT_INFO)),
  ];
  const refusedOrDecoded = (bytes: Uint8Array): void => {
    const buffer = Buffer.from(bytes);
    try {
      const structure = codec.decode(buffer, 0, buffer.length);
      const properties = structure?.['marshalledProperties'];
      if (Buffer.isBuffer(properties)) readProperties(properties);
    } catch (err) {
      assert.equal(code(err)?.startsWith('FERRY_OPENWIRE_'), true, `not a FerryError: ${String(err)}`);
    }
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), refusedOrDecoded), { numRuns: 2000 });
  fc.assert(
    fc.property(fc.integer({ min: 0, max: valid.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (which, flips) => {
      const bytes = Buffer.from(valid[which]!.subarray(4));
      for (const [at, value] of flips) bytes[at % bytes.length] = value;
      refusedOrDecoded(bytes);
    }),
    { numRuns: 3000 },
  );
});

test('AMQP unsigned and timestamp properties reach JMS as the narrowest JMS type that holds them, as the AMQP JMS mapping gives them', () => {
  const types = new Map([
    ['ub', 'ubyte'],
    ['ubBig', 'ubyte'],
    ['us', 'ushort'],
    ['usBig', 'ushort'],
    ['ui', 'uint'],
    ['uiBig', 'uint'],
    ['ts', 'timestamp'],
    ['sym', 'symbol'],
  ] as const);
  const bytes = writeProperties(
    [
      ['ub', 7],
      ['ubBig', 200],
      ['us', 300],
      ['usBig', 60000],
      ['ui', 70000],
      ['uiBig', 4000000000],
      ['ts', 1700000000123],
      ['sym', 's'],
    ],
    types,
  );
  const map = readTypedMap(new DataReader(bytes, 0, bytes.length));
  assert.deepEqual(Object.fromEntries(map!), {
    ub: { t: 'byte', v: 7 },
    ubBig: { t: 'short', v: 200 },
    us: { t: 'short', v: 300 },
    usBig: { t: 'int', v: 60000 },
    ui: { t: 'int', v: 70000 },
    uiBig: { t: 'long', v: 4000000000n },
    ts: { t: 'long', v: 1700000000123n },
    sym: { t: 'string', v: 's' },
  });
});
