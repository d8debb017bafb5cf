import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { AMQP_HEADER, closeCondition, connectAmqp, encodeMessage, frame, frames, rawAmqp, readFrames, terminus, type RawAmqp } from '../helpers/amqp.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker({ 'amqp.maxFrameSize': 4096 });
});
after(async () => {
  await broker.stop();
});

let counter = 0;
function unique(name: string): string {
  return `amqp.wire.${name}.${Date.now().toString(36)}${counter++}`;
}

const OPEN_BEGIN = Buffer.concat([
  AMQP_HEADER,
  frame(frames.open({ container_id: 'wire' })),
  frame(frames.begin({ next_outgoing_id: 0, incoming_window: 1000, outgoing_window: 1000 })),
]);

function attachSender(q: string): Buffer {
  return frame(frames.attach({ name: `to-${q}`, handle: 0, role: false, target: terminus.target({ address: q }).described(), initial_delivery_count: 0 }));
}

function transfer(id: number, body: string, settled = false): Buffer {
  return frame(frames.transfer({ handle: 0, delivery_id: id, delivery_tag: Buffer.from(String(id)), message_format: 0, settled }), encodeMessage({ body }));
}

/** Waits until the frames received so far contain one named `name`. */
async function waitForFrame(raw: RawAmqp, name: string): Promise<{ name: string; fields: Record<string, unknown> }[]> {
  for (let n = 8; ; n = raw.received().length + 1) {
    const got = readFrames(await raw.waitFor(n));
    if (got.some((f) => f.name === name)) return got;
  }
}

async function receiveAll(q: string, count: number): Promise<unknown[]> {
  const c = await connectAmqp(broker.amqpPort);
  try {
    const { inbox } = await c.openReceiver(q);
    return (await inbox.take(count)).map((r) => r.message.body);
  } finally {
    await c.close();
  }
}

describe('the broker on the wire', () => {
  test('the acceptances of one read go out as one disposition over their range', async () => {
    const q = unique('range');
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(Buffer.concat([OPEN_BEGIN, attachSender(q)]));
    await waitForFrame(raw, 'flow');
    raw.write(Buffer.concat([0, 1, 2, 3, 4].map((i) => transfer(i, `m${i}`))));
    const dispositions = (await waitForFrame(raw, 'disposition')).filter((f) => f.name === 'disposition');
    assert.equal(dispositions.length, 1);
    const d = dispositions[0]!.fields;
    assert.equal(d['role'], true);
    assert.equal(d['first'], 0);
    assert.equal(d['last'], 4);
    assert.equal(d['settled'], true);
    assert.deepEqual(await receiveAll(q, 5), ['m0', 'm1', 'm2', 'm3', 'm4']);
    raw.socket.destroy();
  });

  test('frames written a byte at a time are read as if they came whole', async () => {
    const q = unique('bytes');
    const raw = await rawAmqp(broker.amqpPort);
    raw.socket.setNoDelay(true);
    const bytes = Buffer.concat([OPEN_BEGIN, attachSender(q)]);
    for (let i = 0; i < bytes.length; i++) {
      await new Promise<void>((resolve) => raw.socket.write(bytes.subarray(i, i + 1), () => resolve()));
    }
    await waitForFrame(raw, 'flow');
    const transfers = Buffer.concat([transfer(0, 'first', true), transfer(1, 'second', true)]);
    for (let i = 0; i < transfers.length; i++) {
      await new Promise<void>((resolve) => raw.socket.write(transfers.subarray(i, i + 1), () => resolve()));
    }
    assert.deepEqual(await receiveAll(q, 2), ['first', 'second']);
    raw.socket.destroy();
  });

  test('a session the client ends gives its consumer\'s unsettled messages back; the next session works', async () => {
    const q = unique('end');
    const c = await connectAmqp(broker.amqpPort);
    const sender = await c.openSender(q);
    for (const body of ['a', 'b']) await c.send(sender, { body });
    const session = c.connection.create_session();
    session.begin();
    const receiver = session.open_receiver({ source: q, autoaccept: false });
    const taken: unknown[] = [];
    await new Promise<void>((resolve) => {
      receiver.on('message', (ctx) => {
        taken.push(ctx.message?.body);
        if (taken.length === 2) resolve();
      });
    });
    await new Promise<void>((resolve) => {
      session.once('session_close', () => resolve());
      session.close();
    });
    const { inbox } = await c.openReceiver(q);
    const again = await inbox.take(2);
    assert.deepEqual(taken, ['a', 'b']);
    assert.deepEqual(again.map((r) => r.message.body), ['a', 'b']);
    assert.equal(again[0]!.message.delivery_count, 1, 'counted as redelivered');
    await c.close();
  });

  test('a delivery of many frames waits for the client\'s session incoming-window: each frame takes one, the rest go after its flow [AMQP 2.5.6]', async () => {
    const q = unique('window');
    const c = await connectAmqp(broker.amqpPort);
    const body = 'w'.repeat(20_000);
    await c.send(await c.openSender(q), { body });
    await c.close();
    const raw = await rawAmqp(broker.amqpPort);
    const transfers = (): { name: string; fields: Record<string, unknown> }[] => readFrames(raw.received()).filter((f) => f.name === 'transfer');
    raw.write(
      Buffer.concat([
        AMQP_HEADER,
        frame(frames.open({ container_id: 'small-window', max_frame_size: 512 })),
        frame(frames.begin({ next_outgoing_id: 0, incoming_window: 2, outgoing_window: 1000 })),
        frame(frames.attach({ name: 'small-window', handle: 0, role: true, source: terminus.source({ address: q }).described(), target: terminus.target({}).described() })),
        frame(frames.flow({ next_incoming_id: 0, incoming_window: 2, next_outgoing_id: 0, outgoing_window: 1000, handle: 0, delivery_count: 0, link_credit: 1 })),
      ]),
    );
    await waitForFrame(raw, 'transfer');
    // a flow of its own would have to come first: two frames and no more
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(transfers().length, 2);
    let seen = 2;
    while (transfers().at(-1)!.fields['more'] === true) {
      raw.write(frame(frames.flow({ next_incoming_id: seen, incoming_window: 2, next_outgoing_id: 0, outgoing_window: 1000 })));
      seen += 2;
      for (let n = raw.received().length + 1; transfers().length < seen && transfers().at(-1)!.fields['more'] === true; n = raw.received().length + 1) await raw.waitFor(n);
      assert.ok(transfers().length <= seen, `${transfers().length} frames for a window of ${seen}`);
    }
    assert.ok(transfers().length > 30, 'the message went in many frames');
    raw.socket.destroy();
  });

  test('a link detached in the middle of a delivery of many frames: no frame of it follows the detach, and the message comes whole to the next link', async () => {
    const q = unique('detach-mid');
    const c = await connectAmqp(broker.amqpPort);
    const body = 'd'.repeat(5_000);
    await c.send(await c.openSender(q), { body });
    await c.close();
    const raw = await rawAmqp(broker.amqpPort);
    const received = (): { name: string; fields: Record<string, unknown> }[] => readFrames(raw.received());
    raw.write(
      Buffer.concat([
        AMQP_HEADER,
        frame(frames.open({ container_id: 'detach-mid', max_frame_size: 512 })),
        frame(frames.begin({ next_outgoing_id: 0, incoming_window: 2, outgoing_window: 1000 })),
        frame(frames.attach({ name: 'first', handle: 0, role: true, source: terminus.source({ address: q }).described(), target: terminus.target({}).described() })),
        frame(frames.flow({ next_incoming_id: 0, incoming_window: 2, next_outgoing_id: 0, outgoing_window: 1000, handle: 0, delivery_count: 0, link_credit: 1 })),
      ]),
    );
    for (let n = 8; received().filter((f) => f.name === 'transfer').length < 2; n = raw.received().length + 1) await raw.waitFor(n);
    // the link goes with two frames of its delivery sent; then the window opens and the broker's
    // handle 0 is free for the next link
    raw.write(
      Buffer.concat([
        frame(frames.detach({ handle: 0, closed: true })),
        frame(frames.flow({ next_incoming_id: 2, incoming_window: 1000, next_outgoing_id: 0, outgoing_window: 1000 })),
        frame(frames.attach({ name: 'second', handle: 1, role: true, source: terminus.source({ address: q }).described(), target: terminus.target({}).described() })),
        frame(frames.flow({ next_incoming_id: 2, incoming_window: 1000, next_outgoing_id: 0, outgoing_window: 1000, handle: 1, delivery_count: 0, link_credit: 1 })),
      ]),
    );
    const afterDetach = (): { name: string; fields: Record<string, unknown> }[] => {
      const all = received();
      return all.slice(all.findIndex((f) => f.name === 'detach') + 1).filter((f) => f.name === 'transfer');
    };
    for (let n = raw.received().length + 1; !received().some((f) => f.name === 'detach') || !afterDetach().some((f) => f.fields['more'] !== true); n = raw.received().length + 1) await raw.waitFor(n);
    const transfers = afterDetach();
    assert.ok(transfers[0]!.fields['delivery_id'] != null, 'the first transfer after the detach starts a new delivery, not the rest of the old one');
    assert.equal(transfers.filter((f) => f.fields['delivery_id'] != null).length, 1);
    raw.socket.destroy();
    assert.deepEqual(await receiveAll(q, 1), [body], 'the message is kept, whole');
  });

  test('a bad frame in the same write as the header still gets the header, an open and a close that says why', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    const oversized = Buffer.from([0, 0, 0x20, 0, 2, 0, 0, 0]);
    raw.write(Buffer.concat([AMQP_HEADER, oversized]));
    await raw.closed;
    const got = raw.received();
    assert.deepEqual(got.subarray(0, 8), AMQP_HEADER);
    assert.deepEqual(readFrames(got).map((f) => f.name), ['open', 'close']);
    assert.equal(closeCondition(got), 'amqp:connection:framing-error');
  });

  test('mutated frames close at most their own connection', async () => {
    const q = unique('fuzz');
    const valid = Buffer.concat([
      attachSender(q),
      transfer(0, 'x'),
      frame(frames.flow({ next_incoming_id: 0, incoming_window: 10, next_outgoing_id: 1, outgoing_window: 10, handle: 0, delivery_count: 0, link_credit: 5 })),
      frame(frames.disposition({ role: true, first: 0, last: 3, settled: true })),
      frame(frames.detach({ handle: 0, closed: true })),
      frame(frames.end({})),
    ]);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(valid.length),
        async (mutations, cut) => {
          const bytes = Buffer.from(valid.subarray(0, Math.max(1, cut)));
          for (const [at, value] of mutations) if (at < bytes.length) bytes[at] = value;
          const raw = await rawAmqp(broker.amqpPort);
          raw.write(Buffer.concat([OPEN_BEGIN, bytes]));
          raw.socket.end();
          await raw.closed;
        },
      ),
      { numRuns: 60 },
    );
    const c = await connectAmqp(broker.amqpPort);
    assert.deepEqual(await c.send(await c.openSender(q), { body: 'still here' }), { state: 'accepted' });
    await c.close();
  });
});
