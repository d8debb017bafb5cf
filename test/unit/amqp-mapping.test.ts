import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isFerryError } from '../../src/errors.js';
import { buildMessage } from '../../src/core/message.js';
import type { Message, MessageInit, PropertyValue } from '../../src/core/index.js';
import { decodeMessage, deliveryPayload, encodeHeader, encodeMessage } from '../../src/protocols/amqp/mapping.js';
import { formatAddress, parseAddress } from '../../src/protocols/amqp/address.js';
import { encodeMessage as rheaEncode, rhea } from '../helpers/amqp.js';

const NOW = 1_800_000_000_000;

interface RheaMessage {
  durable?: boolean;
  priority?: number;
  ttl?: number;
  delivery_count?: number;
  message_id?: unknown;
  correlation_id?: unknown;
  to?: string;
  subject?: string;
  reply_to?: string;
  content_type?: string;
  content_encoding?: string;
  absolute_expiry_time?: Date;
  creation_time?: Date;
  group_id?: string;
  group_sequence?: number;
  application_properties?: Record<string, unknown>;
  message_annotations?: Record<string, unknown>;
  body?: unknown;
}

const rheaDecode = (payload: Buffer): RheaMessage => (rhea.message as unknown as { decode(b: Buffer): RheaMessage }).decode(payload);
const types = rhea.types as unknown as { wrap_ulong(v: number): unknown; wrap_uuid(v: Buffer): unknown; wrap_binary(v: Buffer): unknown; wrap_long(v: number | Buffer): unknown; wrap_symbol(v: string): unknown };

function message(init: Partial<MessageInit> & { properties?: Map<string, PropertyValue> } = {}): Message {
  return buildMessage({ destination: { kind: 'queue', name: 'orders' }, body: Buffer.from('hi'), bodyKind: 'text', ...init }, 'ID:test-1', NOW, 'conn-1');
}

/** What the broker would build from an AMQP payload and hand to an AMQP consumer. */
function throughBroker(sent: RheaMessage): RheaMessage {
  const { fields, to } = decodeMessage(rheaEncode(sent as never), NOW);
  const m = buildMessage({ ...fields, destination: parseAddress(to ?? 'q') }, 'ID:broker-1', NOW, 'conn-1');
  return rheaDecode(deliveryPayload(m, 0, NOW));
}

describe('AMQP -> core', () => {
  it('maps the header, properties, application properties and annotations', () => {
    const { fields, to } = decodeMessage(
      rheaEncode({
        durable: true,
        priority: 7,
        ttl: 5000,
        message_id: 'm-1',
        correlation_id: 'c-1',
        to: 'topic://prices',
        subject: 'tick',
        reply_to: 'temp-queue://ID:x:1',
        content_type: 'application/json',
        content_encoding: 'gzip',
        creation_time: new Date(NOW - 10),
        group_id: 'g',
        group_sequence: 4,
        application_properties: { a: 'x', n: 12, f: 0.5, b: false, z: null },
        message_annotations: { 'x-opt-partition-key': 'p1', 'x-opt-jms-msg-type': 5 },
        body: 'text body',
      } as never),
      NOW,
    );
    assert.equal(to, 'topic://prices');
    assert.equal(fields.persistent, true);
    assert.equal(fields.priority, 7);
    assert.equal(fields.expiration, NOW + 5000);
    assert.equal(fields.id, 'm-1');
    assert.equal(fields.correlationId, 'c-1');
    assert.equal(fields.type, 'tick');
    assert.deepEqual(fields.replyTo, { kind: 'queue', name: 'ID:x:1', temporary: true });
    assert.equal(fields.timestamp, NOW - 10);
    assert.equal(fields.groupId, 'g');
    assert.equal(fields.groupSeq, 4);
    assert.equal(fields.bodyKind, 'text');
    assert.equal(fields.body.toString(), 'text body');
    assert.deepEqual(
      Object.fromEntries(fields.properties!),
      { 'content-type': 'application/json', 'content-encoding': 'gzip', a: 'x', n: 12, f: 0.5, b: false, z: null, 'x-opt-partition-key': 'p1' },
      'JMS type annotations are not kept: they are written fresh',
    );
  });

  it('an absolute-expiry-time wins over the ttl', () => {
    const { fields } = decodeMessage(rheaEncode({ ttl: 5000, absolute_expiry_time: new Date(NOW + 99), body: 'x' } as never), NOW);
    assert.equal(fields.expiration, NOW + 99);
  });

  it('typed ids become prefixed text', () => {
    const uuid = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
    const cases: [unknown, string][] = [
      [types.wrap_ulong(99), 'AMQP_ULONG:99'],
      [types.wrap_uuid(uuid), 'AMQP_UUID:01234567-89ab-cdef-0123-456789abcdef'],
      [types.wrap_binary(Buffer.from([1, 0xab])), 'AMQP_BINARY:01AB'],
      ['AMQP_ULONG:5', 'AMQP_STRING:AMQP_ULONG:5'],
      ['ID:plain', 'ID:plain'],
    ];
    for (const [id, text] of cases) {
      const { fields } = decodeMessage(rheaEncode({ message_id: id, correlation_id: id, body: 'x' } as never), NOW);
      assert.equal(fields.id, text);
      assert.equal(fields.correlationId, text);
    }
  });

  it('bodies: data, amqp-value of each kind, amqp-sequence', () => {
    const kind = (body: unknown): [string, Buffer] => {
      const { fields } = decodeMessage(rheaEncode({ body } as never), NOW);
      return [fields.bodyKind!, fields.body];
    };
    assert.deepEqual(kind(rhea.message.data_section(Buffer.from([1, 2]))), ['bytes', Buffer.from([1, 2])]);
    assert.deepEqual(kind(rhea.message.data_sections([Buffer.from([1]), Buffer.from([2, 3])])), ['bytes', Buffer.from([1, 2, 3])]);
    assert.deepEqual(kind('héllo'), ['text', Buffer.from('héllo')]);
    assert.deepEqual(kind(Buffer.from([7])), ['bytes', Buffer.from([7])]);
    assert.deepEqual(kind(null), ['bytes', Buffer.alloc(0)]);
    assert.equal(kind({ a: 1 })[0], 'map');
    assert.equal(kind([1, 2])[0], 'stream');
    assert.equal(kind(rhea.message.sequence_section([1, 2]))[0], 'stream');
    assert.equal(kind(42)[0], 'object');
    assert.equal(kind(true)[0], 'object');
  });

  it('a data body\'s kind: the sender\'s x-opt-jms-msg-type, else its content-type as ActiveMQ reads it; text only when it is UTF-8', () => {
    const kind = (content_type: string | undefined, bytes: Buffer, msgType?: number): string => {
      const sent = { content_type, body: rhea.message.data_section(bytes), ...(msgType === undefined ? {} : { message_annotations: { 'x-opt-jms-msg-type': rhea.types.wrap_byte(msgType) } }) };
      return decodeMessage(rheaEncode(sent as never), NOW).fields.bodyKind!;
    };
    const text = Buffer.from('héllo');
    assert.deepEqual(
      ['text/plain', 'TEXT/html; Charset="UTF-8"', 'text/plain;charset=us-ascii', 'application/json', 'application/vnd.x+xml', 'application/xml-dtd; q=1'].map((t) => kind(t, text)),
      ['text', 'text', 'text', 'text', 'text', 'text'],
    );
    assert.deepEqual(
      ['application/octet-stream', 'application/pdf', 'text', 'text/', 'text/plain; charset=iso-8859-1', undefined].map((t) => kind(t, text)),
      ['bytes', 'bytes', 'bytes', 'bytes', 'bytes', 'bytes'],
    );
    assert.equal(kind('text/plain', Buffer.from([0xff, 0xfe])), 'bytes', 'not UTF-8');
    assert.equal(kind('application/x-java-serialized-object', Buffer.from([0xac, 0xed])), 'object');
    assert.deepEqual([kind(undefined, text, 5), kind(undefined, text, 1), kind('text/plain', text, 3), kind('text/plain', text, 2)], ['text', 'object', 'bytes', 'text']);
    assert.equal(kind(undefined, Buffer.alloc(0), 0), 'none');
  });

  it('a message with no sections is an empty bytes message', () => {
    const { fields } = decodeMessage(Buffer.alloc(0), NOW);
    assert.equal(fields.bodyKind, 'bytes');
    assert.equal(fields.body.length, 0);
  });

  it('malformed payloads fail with FERRY_AMQP_DECODE', () => {
    const bad = [
      Buffer.from([0x00, 0x53, 0x77, 0xa1, 0x05, 0x61]),
      Buffer.from([0x00, 0x53, 0x99, 0x40]),
      Buffer.from([0x41]),
      Buffer.from([0x00, 0x53, 0x74, 0xc1, 0x03, 0x01, 0x40]),
      Buffer.from([0x00, 0x53, 0x75, 0x40, 0x00, 0x53, 0x77, 0xa1, 0x01, 0x61]),
    ];
    for (const payload of bad) assert.throws(() => decodeMessage(payload, NOW), (err: unknown) => isFerryError(err, 'FERRY_AMQP_DECODE'));
  });

  it('any bytes either decode or fail with FERRY_AMQP_DECODE, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeMessage(Buffer.from(bytes), NOW);
        } catch (err) {
          if (!isFerryError(err, 'FERRY_AMQP_DECODE')) throw err;
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated real messages either decode or fail with FERRY_AMQP_DECODE', () => {
    const real = rheaEncode({ durable: true, message_id: 'x', application_properties: { a: 1, b: 'two' }, message_annotations: { 'x-opt-k': 3 }, body: { m: [1, 2] } } as never);
    fc.assert(
      fc.property(fc.nat(real.length - 1), fc.nat(255), (at, value) => {
        const copy = Buffer.from(real);
        copy[at] = value;
        try {
          decodeMessage(copy, NOW);
        } catch (err) {
          if (!isFerryError(err, 'FERRY_AMQP_DECODE')) throw err;
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('core -> AMQP', () => {
  it('maps every field of a core message', () => {
    const m = message({
      persistent: true,
      priority: 8,
      expiration: NOW + 30_000,
      correlationId: 'AMQP_ULONG:12',
      replyTo: { kind: 'topic', name: 'replies' },
      type: 'kind',
      groupId: 'grp',
      groupSeq: 2,
      properties: new Map<string, PropertyValue>([
        ['content-type', 'text/plain'],
        ['s', 'v'],
        ['big', 123n],
        ['neg', -5],
        ['dbl', 2.5],
        ['bin', Buffer.from([1])],
        ['nul', null],
        ['x-opt-route', 'r1'],
      ]),
    });
    const out = rheaDecode(deliveryPayload(m, 0, NOW));
    assert.equal(out.durable, true);
    assert.equal(out.priority, 8);
    assert.equal(out.ttl, 30_000);
    assert.equal(out.delivery_count ?? 0, 0);
    assert.equal(out.message_id, 'ID:test-1');
    assert.equal(out.correlation_id, 12);
    assert.equal(out.to, 'orders');
    assert.equal(out.reply_to, 'topic://replies');
    assert.equal(out.subject, 'kind');
    assert.equal(out.content_type, 'text/plain');
    assert.equal(out.group_id, 'grp');
    assert.equal(out.group_sequence, 2);
    assert.equal(out.absolute_expiry_time?.getTime(), NOW + 30_000);
    assert.equal(out.creation_time?.getTime(), NOW);
    assert.deepEqual(out.application_properties, { s: 'v', big: 123, neg: -5, dbl: 2.5, bin: Buffer.from([1]), nul: null });
    assert.deepEqual(out.message_annotations, { 'x-opt-jms-msg-type': 5, 'x-opt-jms-dest': 0, 'x-opt-jms-reply-to': 1, 'x-opt-route': 'r1' });
    assert.equal(out.body, 'hi');
  });

  it('the JMS destination types go out as bytes under the names Qpid JMS reads, a client\'s own x-opt-jms-reply-to among them', () => {
    const sent = rheaEncode({ reply_to: 'answers', message_annotations: { 'x-opt-jms-reply-to': rhea.types.wrap_byte(1) }, body: 'x' } as never);
    const { fields } = decodeMessage(sent, NOW);
    assert.deepEqual(fields.replyTo, { kind: 'topic', name: 'answers' });
    const out = deliveryPayload(buildMessage({ ...fields, destination: { kind: 'topic', name: 'orders' } }, 'ID:broker-1', NOW, 'conn-1'), 0, NOW);
    for (const [name, code] of [['x-opt-jms-dest', 1], ['x-opt-jms-reply-to', 1]] as const) {
      const symbol = Buffer.concat([Buffer.from([0xa3, name.length]), Buffer.from(name)]);
      const at = out.indexOf(symbol);
      assert.ok(at >= 0 && out.indexOf(symbol, at + 1) < 0, `${name} once`);
      assert.deepEqual([...out.subarray(at + symbol.length, at + symbol.length + 2)], [0x51, code], `${name} a byte`);
    }
  });

  it('a ulong property past a long\'s range goes out as a ulong; every long keeps its sign', () => {
    const values = new Map<string, PropertyValue>([['top', 2n ** 64n - 1n], ['half', 2n ** 63n], ['max', 2n ** 63n - 1n], ['min', -(2n ** 63n)], ['minus', -1n]]);
    const { fields } = decodeMessage(deliveryPayload(message({ properties: values }), 0, NOW), NOW);
    assert.deepEqual(Object.fromEntries([...(fields.properties ?? [])].filter(([k]) => values.has(k))), Object.fromEntries(values));
  });

  it('the header carries the delivery count and what is left of the ttl', () => {
    const m = message({ expiration: NOW + 1000 });
    const header = rheaDecode(encodeHeader(m, 3, NOW + 400));
    assert.equal(header.delivery_count, 3);
    assert.equal(header.ttl, 600);
    assert.equal(encodeHeader(message(), 0, NOW).length, 6, 'an all-default header is an empty list');
  });

  it('bodies of other protocols: bytes as data, an object as serialized Java, map and stream bytes that are not AMQP as data', () => {
    const bytes = rheaDecode(deliveryPayload(message({ bodyKind: 'bytes', body: Buffer.from([1, 2]) }), 0, NOW));
    assert.deepEqual((bytes.body as { content: Buffer }).content, Buffer.from([1, 2]));
    const object = rheaDecode(deliveryPayload(message({ bodyKind: 'object', body: Buffer.from([0xac, 0xed, 0, 5]) }), 0, NOW));
    assert.equal(object.content_type, 'application/x-java-serialized-object');
    assert.deepEqual((object.body as { content: Buffer }).content, Buffer.from([0xac, 0xed, 0, 5]));
    const map = rheaDecode(deliveryPayload(message({ bodyKind: 'map', body: Buffer.from('{"a":1}') }), 0, NOW));
    assert.deepEqual((map.body as { content: Buffer }).content, Buffer.from('{"a":1}'));
    assert.equal(map.message_annotations?.['x-opt-jms-msg-type'], 3);
  });

  it('the encoding is made once per message and shared by every delivery', () => {
    const m = message();
    deliveryPayload(m, 0, NOW);
    const cached = m.encodings?.get('amqp');
    assert.ok(Buffer.isBuffer(cached));
    const again = deliveryPayload(m, 2, NOW);
    assert.equal(m.encodings?.get('amqp'), cached);
    assert.equal(rheaDecode(again).delivery_count, 2);
  });

  it('what is kept is everything but the body, which every delivery takes from the message', () => {
    for (const [bodyKind, body] of [
      ['bytes', Buffer.alloc(1024, 7)],
      ['bytes', Buffer.alloc(300, 1)],
      ['text', Buffer.from('é'.repeat(200))],
      ['map', Buffer.from([0xc1, 0x03, 0x02, 0xa1, 0x00, 0x40])],
      ['stream', Buffer.from([0x00, 0x53, 0x76, 0x45])],
    ] as const) {
      const m = message({ bodyKind, body, replyTo: { kind: 'topic', name: 'answers' } });
      const payload = deliveryPayload(m, 0, NOW);
      const kept = m.encodings?.get('amqp') as Buffer;
      assert.ok(kept.length < 200, `${bodyKind}: ${kept.length} bytes kept`);
      assert.deepEqual(payload.subarray(payload.length - body.length), body);
      assert.deepEqual(encodeMessage(m), Buffer.concat([kept, body]));
      const out = rheaDecode(payload);
      assert.equal(out.reply_to, 'topic://answers');
      assert.equal(out.message_annotations?.['x-opt-jms-reply-to'], 1);
    }
  });
});

describe('both ways', () => {
  it('an AMQP message comes out as it went in', () => {
    const sent: RheaMessage = {
      durable: true,
      priority: 3,
      message_id: types.wrap_ulong(7),
      correlation_id: 'corr',
      subject: 's',
      reply_to: 'replies',
      content_type: 'application/octet-stream',
      group_id: 'g',
      group_sequence: 1,
      application_properties: { k: 'v', n: -1, t: true },
      message_annotations: { 'x-opt-a': 'b' },
      body: { nested: { list: [1, 'x'] } },
    };
    const got = throughBroker(sent);
    assert.equal(got.durable, true);
    assert.equal(got.priority, 3);
    assert.equal(got.message_id, 7);
    assert.equal(got.correlation_id, 'corr');
    assert.equal(got.subject, 's');
    assert.equal(got.reply_to, 'replies');
    assert.equal(got.content_type, 'application/octet-stream');
    assert.equal(got.group_id, 'g');
    assert.equal(got.group_sequence, 1);
    assert.deepEqual(got.application_properties, { k: 'v', n: -1, t: true });
    assert.equal(got.message_annotations?.['x-opt-a'], 'b');
    assert.deepEqual(got.body, { nested: { list: [1, 'x'] } });
  });

  it('bodies keep their section type', () => {
    for (const body of ['text', [1, 2, 3], { m: 1 }, 3.25, rhea.message.data_section(Buffer.from([5]))]) {
      assert.deepEqual(throughBroker({ body }).body, body);
    }
    const sequence = throughBroker({ body: rhea.message.sequence_sections([[1], ['a', 'b']]) }).body as { typecode: number; content: unknown };
    assert.equal(sequence.typecode, 0x76);
    assert.deepEqual(sequence.content, [[1], ['a', 'b']]);
  });

  it('application property values keep their value and, where JavaScript can tell, their type', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string({ minLength: 1, maxLength: 8 }),
          fc.oneof(fc.string(), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.boolean(), fc.constant(null), fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d))),
        ),
        (props) => {
          const filtered = Object.fromEntries(Object.entries(props).filter(([k]) => !k.startsWith('x-opt-') && k !== 'content-type' && k !== 'content-encoding' && k !== '__proto__'));
          const got = throughBroker({ application_properties: filtered, body: 'x' });
          assert.deepEqual(got.application_properties ?? {}, filtered);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('addresses: plain is a queue, prefixes and capabilities say the rest', () => {
    assert.deepEqual(parseAddress('a.b'), { kind: 'queue', name: 'a.b' });
    assert.deepEqual(parseAddress('queue://a'), { kind: 'queue', name: 'a' });
    assert.deepEqual(parseAddress('topic://a'), { kind: 'topic', name: 'a' });
    assert.deepEqual(parseAddress('a', ['topic']), { kind: 'topic', name: 'a' });
    assert.deepEqual(parseAddress('temp-topic://t'), { kind: 'topic', name: 't', temporary: true });
    for (const d of [{ kind: 'queue', name: 'q' }, { kind: 'topic', name: 't' }, { kind: 'queue', name: 'ID:1', temporary: true }] as const) {
      assert.deepEqual(parseAddress(formatAddress(d)), d);
    }
    assert.throws(() => parseAddress('topic://'), (err: unknown) => isFerryError(err, 'FERRY_DESTINATION_INVALID'));
  });
});

// a long beyond 2^53 keeps every bit through the broker
describe('longs', () => {
  it('a long property keeps its exact value', () => {
    const big = Buffer.from('0030000000000001', 'hex');
    const got = throughBroker({ application_properties: { l: types.wrap_long(big) }, body: 'x' });
    assert.deepEqual(got.application_properties?.['l'], big);
    const { fields } = decodeMessage(rheaEncode({ application_properties: { l: types.wrap_long(big) }, body: 'x' } as never), NOW);
    assert.equal(fields.properties?.get('l'), 0x0030000000000001n);
    assert.ok(encodeMessage(message({ properties: new Map([['l', 0x0030000000000001n]]) })).includes(big));
  });
});

describe('what JMS sends that AMQP has no place for', () => {
  it('a null text goes out as amqp-value null, an empty one as an empty string; a map or list property is left out', () => {
    const properties = new Map<string, PropertyValue>([['pMap', Buffer.from([0, 0, 0, 0])], ['pInt', 5]]);
    const nullText = rheaDecode(encodeMessage(message({ body: Buffer.alloc(0), nullBody: true, properties, propertyTypes: new Map([['pMap', 'map']]) })));
    assert.equal(nullText.body, null);
    assert.equal(nullText.message_annotations?.['x-opt-jms-msg-type'], 5);
    assert.deepEqual(nullText.application_properties, { pInt: 5 });
    assert.equal(rheaDecode(encodeMessage(message({ body: Buffer.alloc(0) }))).body, '');
  });
});
