import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isFerryError } from '../../src/errors.js';
import { AmqpReader, AmqpSymbol, AmqpWriter, Described, type AmqpValue } from '../../src/protocols/amqp/codec.js';
import { FrameGuard } from '../../src/protocols/amqp/frame-guard.js';
import { isTransfer, readTransferFrame } from '../../src/protocols/amqp/transfers.js';
import { Performative, amqpFrame, dispositionSize, flowSize, put, writeDisposition, writeFlow } from '../../src/protocols/amqp/frames.js';
import { AMQP_HEADER, SASL_HEADER, frame, frames, rhea } from '../helpers/amqp.js';

function roundTrip(value: AmqpValue): AmqpValue {
  const w = new AmqpWriter(4);
  w.value(value);
  const buf = w.toBuffer();
  const r = new AmqpReader(buf);
  const out = r.read();
  assert.equal(r.offset, buf.length, 'the reader consumes exactly what the writer wrote');
  return out;
}

const values: fc.Arbitrary<AmqpValue> = fc.letrec<{ value: AmqpValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d)),
    fc.string(),
    fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    fc.string({ maxLength: 20 }).filter((s) => /^[\x20-\x7e]*$/.test(s)).map((s) => new AmqpSymbol(s)),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.tuple(fc.nat(255), tie('value')).map(([code, v]) => new Described(code, v)),
  ),
})).value;

describe('AMQP codec', () => {
  it('writes and reads back every kind of value', () => {
    fc.assert(
      fc.property(values, (value) => {
        assert.deepEqual(roundTrip(value), value);
      }),
      { numRuns: 1000 },
    );
  });

  it('maps read back with their keys (symbol keys as text)', () => {
    const map = new Map<AmqpValue, AmqpValue>([['a', 1], [new AmqpSymbol('s'), 'x']]);
    assert.deepEqual(roundTrip(map), new Map<AmqpValue, AmqpValue>([['a', 1], ['s', 'x']]));
  });

  it('reads the fixed-width types other encoders use', () => {
    const read = (bytes: number[]): AmqpValue => new AmqpReader(Buffer.from(bytes)).read();
    assert.equal(read([0x50, 200]), 200);
    assert.equal(read([0x51, 0xff]), -1);
    assert.equal(read([0x60, 1, 0]), 256);
    assert.equal(read([0x61, 0xff, 0xfe]), -2);
    assert.equal(read([0x43]), 0);
    assert.equal(read([0x52, 9]), 9);
    assert.equal(read([0x53, 9]), 9n);
    assert.equal(read([0x55, 0xff]), -1n);
    assert.equal(read([0x56, 1]), true);
    assert.equal(read([0x73, 0, 0, 0, 0x41]), 'A');
    assert.equal(read([0x83, 0, 0, 0, 0, 0, 0, 1, 0]), 256);
    assert.equal(read([0x98, ...Buffer.from('00112233445566778899aabbccddeeff', 'hex')]), '00112233-4455-6677-8899-aabbccddeeff');
    assert.deepEqual(read([0xe0, 4, 2, 0x50, 1, 2]), [1, 2]);
    assert.deepEqual(read([0xf0, 0, 0, 0, 9, 0, 0, 0, 2, 0xa3, 1, 0x61, 1, 0x62]), [new AmqpSymbol('a'), new AmqpSymbol('b')]);
  });

  it('refuses lying sizes and unknown codes with FERRY_AMQP_DECODE', () => {
    const bad = [[0xa1, 5, 0x61], [0xd0, 0, 0, 0, 200, 0, 0, 0, 1], [0xc0, 1, 3], [0x3f], [0x00, 0x41, 0x40], [0xc1, 2, 1, 0x40]];
    for (const bytes of bad) {
      assert.throws(() => new AmqpReader(Buffer.from(bytes)).read(), (err: unknown) => isFerryError(err, 'FERRY_AMQP_DECODE'), Buffer.from(bytes).toString('hex'));
    }
  });

  it('refuses an array that asks for more elements than it has bytes (zero-width elements take none), without building them', () => {
    // array32 of 0xffffffff nulls in 14 bytes: decoded element by element, four billion values
    const huge = [0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x40];
    assert.throws(() => new AmqpReader(Buffer.from(huge)).read(), (err: unknown) => isFerryError(err, 'FERRY_AMQP_DECODE') && /cannot hold 4294967295 elements/.test((err as Error).message));
    assert.deepEqual(new AmqpReader(Buffer.from([0xe0, 2, 2, 0x40])).read(), [null, null]);
  });

  it('random bytes never throw anything but FERRY_AMQP_DECODE', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        try {
          const r = new AmqpReader(Buffer.from(bytes));
          while (r.remaining > 0) r.read();
        } catch (err) {
          if (!isFerryError(err, 'FERRY_AMQP_DECODE')) throw err;
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('a map key read through the table of seen keys is what an ordinary read gives, however keys collide', () => {
    const str8 = (bytes: Uint8Array): Buffer => Buffer.concat([Buffer.from([0xa1, bytes.length]), bytes]);
    // a handful of names, ASCII or not, over and over: most reads find their slot taken by the same
    // name or by another one, and invalid UTF-8 must never be mistaken for a name in the table
    const names = fc.oneof(
      fc.string({ maxLength: 40 }).map((s) => Buffer.from(s, 'utf8')),
      fc.uint8Array({ maxLength: 34 }).map((a) => Buffer.from(a)),
      fc.constantFrom('producer', 'seq', 'ts', 'phase', 'pháse').map((s) => Buffer.from(s, 'utf8')),
    );
    fc.assert(
      fc.property(fc.array(names, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { minLength: 1, maxLength: 60 }), (pool, picks) => {
        for (const pick of picks) {
          const bytes = pool[pick % pool.length]!;
          if (bytes.length > 255) continue;
          const buf = str8(bytes);
          const viaTable = new AmqpReader(buf);
          assert.equal(viaTable.readKey(), new AmqpReader(buf).read());
          assert.equal(viaTable.offset, buf.length);
        }
      }),
      { numRuns: 300 },
    );
    // other types of key are read as they are
    const w = new AmqpWriter();
    w.symbol('s');
    w.uint(7);
    const r = new AmqpReader(w.toBuffer());
    assert.deepEqual(r.readKey(), new AmqpSymbol('s'));
    assert.equal(r.readKey(), 7);
  });

  it('writes timestamps as 64-bit milliseconds and reads them back, either side of the epoch', () => {
    fc.assert(
      fc.property(fc.integer({ min: -8.64e15, max: 8.64e15 }), (ms) => {
        const w = new AmqpWriter(4);
        w.timestamp(ms);
        const expected = Buffer.alloc(9);
        expected[0] = 0x83;
        expected.writeBigInt64BE(BigInt(ms), 1);
        assert.deepEqual(w.toBuffer(), expected);
        assert.equal(new AmqpReader(expected).read(), ms);
      }),
    );
    // a peer's timestamp beyond 2^53 reads as the nearest number, as before
    const far = Buffer.from([0x83, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.equal(new AmqpReader(far).read(), Number(2n ** 63n - 1n));
  });

  it('writes strings as their UTF-8 bytes, short ASCII ones and all others alike', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.string({ maxLength: 80, unit: 'grapheme' })), (text) => {
        const w = new AmqpWriter(1);
        w.string(text);
        const bytes = Buffer.from(text, 'utf8');
        const head = bytes.length < 256 ? Buffer.from([0xa1, bytes.length]) : Buffer.from([0xb1, 0, 0, 0, 0]);
        if (bytes.length >= 256) head.writeUInt32BE(bytes.length, 1);
        assert.deepEqual(w.toBuffer(), Buffer.concat([head, bytes]));
      }),
    );
  });
});

describe('frame guard', () => {
  const stream = Buffer.concat([
    SASL_HEADER,
    Buffer.from([0, 0, 0, 12, 2, 1, 0, 0, 1, 2, 3, 4]),
    AMQP_HEADER,
    frame(frames.open({ container_id: 'x' })),
    Buffer.from([0, 0, 0, 8, 2, 0, 0, 0]),
    frame(frames.begin({ next_outgoing_id: 0, incoming_window: 10, outgoing_window: 10 })),
  ]);

  it('accepts a good stream split at every byte', () => {
    for (let split = 0; split <= stream.length; split++) {
      const guard = new FrameGuard(1024);
      assert.equal(guard.push(stream.subarray(0, split)), undefined, `split at ${split}`);
      assert.equal(guard.push(stream.subarray(split)), undefined, `split at ${split}`);
    }
    const guard = new FrameGuard(1024);
    for (const byte of stream) assert.equal(guard.push(Buffer.from([byte])), undefined);
  });

  it('reports exactly the AMQP frames that lie whole within a chunk, wherever the stream is split', () => {
    const amqpStart = SASL_HEADER.length + 12 + AMQP_HEADER.length;
    const frameEnds: [number, number][] = [];
    for (let at = amqpStart; at < stream.length; ) {
      const size = stream.readUInt32BE(at);
      frameEnds.push([at, at + size]);
      at += size;
    }
    for (let split = 0; split <= stream.length; split++) {
      const guard = new FrameGuard(1024);
      const seen: [number, number][] = [];
      guard.push(stream.subarray(0, split), (s, e) => seen.push([s, e]));
      guard.push(stream.subarray(split), (s, e) => seen.push([s + split, e + split]));
      const expected = frameEnds.filter(([s, e]) => e <= split || s >= split);
      assert.deepEqual(seen, expected, `split at ${split}`);
    }
  });

  it('answers a wrong header with a header the broker speaks', () => {
    const http = new FrameGuard(1024).push(Buffer.from('GET / HTTP/1.1\r\n'));
    assert.equal(http?.kind, 'header');
    assert.deepEqual(http?.kind === 'header' ? http.reply : undefined, SASL_HEADER);
    const old = new FrameGuard(1024).push(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]));
    assert.deepEqual(old?.kind === 'header' ? old.reply : undefined, AMQP_HEADER);
    // the first wrong byte is enough
    assert.equal(new FrameGuard(1024).push(Buffer.from('G'))?.kind, 'header');
  });

  it('stops frames that are too small, too large, badly offset or of the wrong layer', () => {
    const after = (bytes: number[], header = AMQP_HEADER) => new FrameGuard(1024).push(Buffer.concat([header, Buffer.from(bytes)]));
    assert.equal(after([0, 0, 0, 4, 2, 0, 0, 0])?.kind, 'frame');
    assert.equal(after([0, 0, 4, 1, 2, 0, 0, 0])?.kind, 'frame');
    assert.equal(after([0, 0, 0, 8, 1, 0, 0, 0])?.kind, 'frame');
    assert.equal(after([0, 0, 0, 8, 3, 0, 0, 0])?.kind, 'frame');
    assert.equal(after([0, 0, 0, 8, 2, 1, 0, 0])?.kind, 'frame');
    assert.equal(after([0, 0, 0, 8, 2, 0, 0, 0], SASL_HEADER)?.kind, 'frame');
    assert.equal(new FrameGuard(1024).push(Buffer.concat([SASL_HEADER, SASL_HEADER]))?.kind, 'header', 'only an AMQP header follows SASL');
  });

  it('random streams after a header are judged without throwing', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 30 }), { maxLength: 5 }), (chunks) => {
        const guard = new FrameGuard(512);
        guard.push(AMQP_HEADER);
        for (const chunk of chunks) guard.push(Buffer.from(chunk));
      }),
    );
  });
});

describe('transfer frames', () => {
  const types = rhea.types as unknown as { described(d: unknown, v: unknown): unknown; wrap_ulong(v: number): unknown; wrap_list(v: unknown[]): unknown };

  it('reads what rhea writes, and leaves other performatives alone', () => {
    const payload = Buffer.from([0x00, 0x53, 0x77, 0xa1, 1, 0x78]);
    const state = types.described(types.wrap_ulong(0x34), types.wrap_list([Buffer.from([0, 0, 0, 7])]));
    const transfer = frames.transfer({ handle: 300, delivery_id: 70000, delivery_tag: Buffer.from('t1'), message_format: 0, settled: true }) as { value: unknown[] };
    // rhea cannot write a transfer's state itself
    transfer.value[7] = state;
    const bytes = frame(transfer, payload);
    const read = readTransferFrame(bytes, 0, bytes.length);
    assert.equal(read.handle, 300);
    assert.equal(read.deliveryId, 70000);
    assert.equal(read.settled, true);
    assert.equal(read.more, false);
    assert.equal(read.aborted, false);
    assert.deepEqual(read.txnId, Buffer.from([0, 0, 0, 7]));
    assert.deepEqual(read.payload, payload);
    const continued = frame(frames.transfer({ handle: 0, delivery_id: 1, delivery_tag: Buffer.from('x'), more: true }), payload);
    assert.equal(readTransferFrame(continued, 0, continued.length).more, true);
    const open = frame(frames.open({ container_id: 'x' }));
    assert.equal(isTransfer(open, 0, open.length), false);
    assert.equal(isTransfer(bytes, 0, bytes.length), true);
  });
});

describe('performatives the broker writes', () => {
  const read = (buf: Buffer): Record<string, unknown> => frames.read_frame(buf)!.performative as unknown as Record<string, unknown>;
  const uints = fc.oneof(fc.constantFrom(0, 1, 255, 256, 0xffffffff), fc.nat());

  it('flows read back as written (session and link)', () => {
    fc.assert(
      fc.property(uints, uints, uints, uints, fc.option(uints, { nil: undefined }), uints, uints, fc.boolean(), (a, b, c, d, handle, count, credit, drain) => {
        const f = { nextIncomingId: a, incomingWindow: b, nextOutgoingId: c, outgoingWindow: d, handle, deliveryCount: count, linkCredit: credit, available: 0, drain, echo: false };
        const out = Buffer.alloc(flowSize(f));
        assert.equal(writeFlow(out, 0, 3, f), out.length);
        const p = read(out);
        assert.equal(out.readUInt16BE(6), 3);
        assert.equal(p['next_incoming_id'], a);
        assert.equal(p['incoming_window'], b);
        assert.equal(p['next_outgoing_id'], c);
        assert.equal(p['outgoing_window'], d);
        if (handle !== undefined) {
          assert.equal(p['handle'], handle);
          assert.equal(p['delivery_count'], count);
          assert.equal(p['link_credit'], credit);
          assert.equal(p['drain'], drain);
        }
      }),
    );
  });

  it('settling dispositions read back as written, with accepted or no outcome', () => {
    fc.assert(
      fc.property(fc.boolean(), uints, uints, fc.boolean(), (role, first, last, accepted) => {
        const out = Buffer.alloc(dispositionSize(first, last, accepted));
        assert.equal(writeDisposition(out, 0, 0, role, first, last, accepted), out.length);
        const p = read(out);
        assert.equal(p['role'], role);
        assert.equal(p['first'], first);
        assert.equal(p['last'], last);
        assert.equal(p['settled'], true);
        const state = p['state'] as { descriptor?: { value: unknown } } | null | undefined;
        if (accepted) assert.equal(Number(state?.descriptor?.value), 0x24, 'accepted');
        // rhea shows an absent state as a typed null
        else assert.ok(state === null || state === undefined || (state as unknown as { value: unknown }).value === null);
      }),
    );
  });

  it('control frames carry their fields, symbols arrays included', () => {
    const open = amqpFrame(0, Performative.open, [put.string('broker'), undefined, put.uint(4096), put.ushort(255), undefined, undefined, undefined, put.symbols(['A', 'BB'])]);
    const p = read(open);
    assert.equal(p['container_id'], 'broker');
    assert.equal(p['max_frame_size'], 4096);
    assert.equal(p['channel_max'], 255);
    assert.deepEqual(p['offered_capabilities'], ['A', 'BB']);
  });
});

describe('nesting', () => {
  /** `depth` lists one inside the other (list32, so that any depth fits), an empty one innermost. */
  function nestedLists(depth: number): Buffer {
    let inner = Buffer.from([0x45]);
    for (let i = 0; i < depth; i++) {
      const head = Buffer.alloc(9);
      head[0] = 0xd0;
      head.writeUInt32BE(inner.length + 4, 1);
      head.writeUInt32BE(1, 5);
      inner = Buffer.concat([head, inner]);
    }
    return inner;
  }

  it('a value nested a few hundred deep reads; thousands deep is a decode error, not a stack overflow', () => {
    let value = new AmqpReader(nestedLists(200)).read();
    for (let i = 0; i < 200; i++) value = (value as AmqpValue[])[0]!;
    assert.deepEqual(value, []);
    for (const depth of [300, 5000]) {
      assert.throws(() => new AmqpReader(nestedLists(depth)).read(), (err: unknown) => isFerryError(err, 'FERRY_AMQP_DECODE') && /nested/.test(String((err as Error).message)));
    }
    // described values skipped without decoding, one inside the other
    const described = Buffer.concat([Buffer.alloc(20_000, 0x00), Buffer.from([0x40])]);
    assert.throws(() => new AmqpReader(described).skip(), (err: unknown) => isFerryError(err, 'FERRY_AMQP_DECODE'));
  });
});
