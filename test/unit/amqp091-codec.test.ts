import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isFerryError } from '../../src/errors.js';
import { Decimal, FieldReader, FieldWriter, Timestamp, Typed, type FieldTable, type FieldValue } from '../../src/protocols/amqp091/field-table.js';
import { FrameReader, decodeContentHeader, encodeContentHeader, encodeProperties, type BasicProperties } from '../../src/protocols/amqp091/frames.js';
import { decodeMethod, encodeMethod, methodPayload, methodSpecs, type MethodName } from '../../src/protocols/amqp091/methods.js';
import { Amqp091Error } from '../../src/protocols/amqp091/errors.js';
import { writeContent } from '../../src/protocols/amqp091/delivery.js';
import type { TransportConnection } from '../../src/transport/index.js';

const key = fc.string({ maxLength: 20 }).filter((s) => Buffer.byteLength(s) <= 255);

/** Every field type, in the form the reader gives it back. */
const fieldValue: fc.Arbitrary<FieldValue> = fc.letrec<{ value: FieldValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.boolean(),
    fc.integer({ min: -128, max: 127 }).map((v) => new Typed('b', v)),
    fc.integer({ min: 0, max: 255 }).map((v) => new Typed('B', v)),
    fc.integer({ min: -32768, max: 32767 }).map((v) => new Typed('s', v)),
    fc.integer({ min: 0, max: 65535 }).map((v) => new Typed('u', v)),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((v) => new Typed('i', v)),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.float({ noNaN: true }).map((v) => new Typed('f', Math.fround(v))),
    fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d)),
    fc.tuple(fc.nat(255), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })).map(([s, v]) => new Decimal(s, v)),
    fc.string(),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => new Timestamp(v)),
    fc.constant(null),
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(fc.tuple(key, tie('value')), { maxLength: 4 }).map((entries) => new Map(entries) as FieldTable),
  ),
})).value;

const table: fc.Arbitrary<FieldTable> = fc.array(fc.tuple(key, fieldValue), { maxLength: 6 }).map((e) => new Map(e));

function roundTrip(t: FieldTable): FieldTable {
  const w = new FieldWriter(8);
  w.table(t);
  const buf = w.take();
  const r = new FieldReader(buf, 0, buf.length);
  const out = r.table();
  assert.equal(r.pos, buf.length);
  return out;
}

describe('AMQP 0-9-1 field tables', () => {
  it('write and read back every field type, nested tables and arrays included', () => {
    fc.assert(fc.property(table, (t) => assert.deepEqual(roundTrip(t), t)), { numRuns: 1000 });
  });

  it('a table cut short or with an unknown type is a syntax error (502)', () => {
    const buf = (() => {
      const w = new FieldWriter();
      w.table(new Map([['a', 'text']]));
      return w.take();
    })();
    assert.throws(() => new FieldReader(buf, 0, buf.length - 1).table(), (e: unknown) => e instanceof Amqp091Error && e.replyCode === 502);
    const bad = Buffer.from(buf);
    bad[6] = 0x51; // 'Q' is no field type
    assert.throws(() => new FieldReader(bad, 0, bad.length).table(), (e: unknown) => isFerryError(e, 'FERRY_AMQP091_SYNTAX'));
  });
});

/** Arguments for a method from its spec, drawn at random. */
function argsFor(name: MethodName): fc.Arbitrary<Record<string, unknown>> {
  const fields = methodSpecs[name].args as readonly (readonly [string, string])[];
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [field, type] of fields) {
    parts[field] =
      type === 'bit'
        ? fc.boolean()
        : type === 'octet'
        ? fc.nat(255)
        : type === 'short'
        ? fc.nat(65535)
        : type === 'long'
        ? fc.nat(2 ** 32 - 1)
        : type === 'longlong'
        ? fc.nat(Number.MAX_SAFE_INTEGER)
        : type === 'shortstr'
        ? key
        : type === 'longstr'
        ? fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a))
        : table;
  }
  return fc.record(parts);
}

describe('AMQP 0-9-1 methods', () => {
  const clientMethods = (Object.keys(methodSpecs) as MethodName[]).filter((n) => !('serverOnly' in methodSpecs[n]));
  it('every method a client sends encodes and decodes back to its arguments', () => {
    for (const name of clientMethods) {
      fc.assert(
        fc.property(argsFor(name), (args) => {
          const m = decodeMethod(methodPayload(name, args as never));
          assert.equal(m.name, name);
          assert.deepEqual(m.args, { ...args });
        }),
        { numRuns: 50 },
      );
    }
  });

  it('an unknown class or method is 540, a server-only method 503, a short payload 502', () => {
    const unknown = Buffer.from([0, 60, 0, 99]);
    assert.throws(() => decodeMethod(unknown), (e: unknown) => e instanceof Amqp091Error && e.replyCode === 540);
    const deliver = methodPayload('basic.deliver', { consumerTag: 'c', deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'q' });
    assert.throws(() => decodeMethod(deliver), (e: unknown) => e instanceof Amqp091Error && e.replyCode === 503);
    const publish = methodPayload('basic.publish', { ticket: 0, exchange: 'x', routingKey: 'k', mandatory: true, immediate: false });
    assert.throws(() => decodeMethod(publish.subarray(0, publish.length - 2)), (e: unknown) => e instanceof Amqp091Error && e.replyCode === 502);
  });

  it('consecutive bits share an octet, as the specification packs them', () => {
    const payload = methodPayload('queue.declare', { ticket: 0, queue: 'q', passive: false, durable: true, exclusive: false, autoDelete: true, noWait: false, arguments: new Map() });
    // ticket(2) + "q"(2) + bits(1) + table(4) after class and method
    assert.equal(payload.length, 4 + 2 + 2 + 1 + 4);
    assert.equal(payload[8], 0b01010);
  });
});

describe('AMQP 0-9-1 frames', () => {
  const frames = [
    encodeMethod(1, 'basic.publish', { ticket: 0, exchange: 'amq.topic', routingKey: 'a.b', mandatory: false, immediate: false }),
    encodeContentHeader(1, 5, encodeProperties({ contentType: 'text/plain', headers: new Map([['n', 1]]) })),
    Buffer.from([3, 0, 1, 0, 0, 0, 5, 104, 101, 108, 108, 111, 0xce]),
    Buffer.from([8, 0, 0, 0, 0, 0, 0, 0xce]),
  ];
  const stream = Buffer.concat(frames);

  function collect(frameMax: number, chunks: Buffer[]): { type: number; channel: number; payload: Buffer }[] {
    const got: { type: number; channel: number; payload: Buffer }[] = [];
    const reader = new FrameReader(frameMax, { frame: (type, channel, payload) => got.push({ type, channel, payload: Buffer.from(payload) }) });
    for (const c of chunks) reader.push(c);
    return got;
  }

  it('reads the same frames whatever the split points', () => {
    const whole = collect(4096, [stream]);
    assert.equal(whole.length, 4);
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j += 7) {
        assert.deepEqual(collect(4096, [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]), whole, `split at ${i} and ${j}`);
      }
    }
    assert.deepEqual(collect(4096, [...stream].map((b) => Buffer.from([b]))), whole);
  });

  it('refuses a frame over frame-max from its header, before its payload arrives (501)', () => {
    const head = Buffer.from([3, 0, 1, 0, 0, 0x20, 0, 0]); // a body frame announcing 8 KiB, one payload byte sent
    const reader = new FrameReader(4096, { frame: () => assert.fail('no frame') });
    assert.throws(() => reader.push(head), (e: unknown) => e instanceof Amqp091Error && e.replyCode === 501);
  });

  it('a bad frame end or frame type is a frame error (501)', () => {
    const bad = Buffer.from(frames[3]!);
    bad[7] = 0xcd;
    assert.throws(() => collect(4096, [bad]), (e: unknown) => e instanceof Amqp091Error && e.replyCode === 501);
    assert.throws(() => collect(4096, [Buffer.from([9, 0, 0, 0, 0, 0, 0, 0xce])]), (e: unknown) => isFerryError(e, 'FERRY_AMQP091_FRAMING'));
  });

  it('content properties encode and decode, every one of them', () => {
    const p: BasicProperties = {
      contentType: 'application/json',
      contentEncoding: 'gzip',
      headers: new Map<string, FieldValue>([['x', new Typed('b', -1)], ['nested', new Map([['a', [1, 'two']]])]]),
      deliveryMode: 2,
      priority: 7,
      correlationId: 'c-1',
      replyTo: 'replies',
      expiration: '60000',
      messageId: 'm-1',
      timestamp: 1_700_000_000,
      type: 'order',
      userId: 'guest',
      appId: 'shop',
      clusterId: 'c',
    };
    const frame = encodeContentHeader(1, 123456789012, encodeProperties(p));
    const h = decodeContentHeader(frame.subarray(7, frame.length - 1));
    assert.equal(h.classId, 60);
    assert.equal(h.bodySize, 123456789012);
    assert.deepEqual(h.properties, p);
  });

  it('a delivery is one method, one header and body frames of at most frame-max', () => {
    const written: Buffer[] = [];
    const transport = { write: (b: Buffer) => written.push(b) } as unknown as TransportConnection;
    const body = Buffer.alloc(10_000, 7);
    writeContent(transport, 3, 60, Buffer.from('ctag'), 2 ** 40, true, 'ex', 'rk', 0, encodeProperties({ deliveryMode: 2 }), body, 4096);
    const got: { type: number; channel: number; payload: Buffer }[] = [];
    new FrameReader(4096, { frame: (type, channel, payload) => got.push({ type, channel, payload: Buffer.from(payload) }) }).push(written[0]!);
    assert.deepEqual(got.map((f) => f.type), [1, 2, 3, 3, 3]);
    assert.ok(got.every((f) => f.channel === 3));
    const m = Buffer.from(got[0]!.payload);
    // decodeMethod refuses server-only methods, so read basic.deliver's fields by hand
    assert.equal(m.readUInt16BE(2), 60);
    assert.equal(m.toString('utf8', 5, 9), 'ctag');
    assert.equal(Number(m.readBigUInt64BE(9)), 2 ** 40);
    assert.equal(m[17], 1);
    assert.equal(decodeContentHeader(got[1]!.payload).bodySize, 10_000);
    assert.deepEqual(Buffer.concat(got.slice(2).map((f) => f.payload)), body);
  });
});

describe('AMQP 0-9-1 decoders under random input', () => {
  it('random and mutated bytes either decode or fail with a 0-9-1 error, never anything else', () => {
    const valid = Buffer.concat([
      encodeMethod(1, 'queue.declare', { ticket: 0, queue: 'q', passive: false, durable: true, exclusive: false, autoDelete: false, noWait: false, arguments: new Map<string, FieldValue>([['x-max-length', 5], ['t', new Map([['a', [1, 'b']]])]]) }),
      encodeMethod(1, 'basic.publish', { ticket: 0, exchange: 'e', routingKey: 'k', mandatory: true, immediate: false }),
      encodeContentHeader(1, 3, encodeProperties({ contentType: 'x', headers: new Map<string, FieldValue>([['n', new Typed('u', 7)]]), timestamp: 5 })),
    ]);
    const inputs = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
      fc.array(fc.tuple(fc.nat(valid.length - 1), fc.nat(255)), { minLength: 1, maxLength: 8 }).map((changes) => {
        const b = Buffer.from(valid);
        for (const [at, v] of changes) b[at] = v;
        return b;
      }),
    );
    fc.assert(
      fc.property(inputs, (bytes) => {
        try {
          new FrameReader(4096, {
            frame: (type, _channel, payload) => {
              if (type === 1) decodeMethod(payload);
              else if (type === 2) decodeContentHeader(payload);
            },
          }).push(bytes);
        } catch (err) {
          assert.ok(err instanceof Amqp091Error, String(err));
        }
      }),
      { numRuns: 3000 },
    );
  });
});
