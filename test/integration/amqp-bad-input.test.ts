import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import type { AmqpError, EventContext } from 'rhea';
import { AMQP_HEADER, SASL_HEADER, closeCondition, connectAmqp, encodeMessage, frame, frames, rawAmqp, readFrames, terminus, type RawAmqp } from '../helpers/amqp.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker({ 'amqp.maxFrameSize': 4096, 'amqp.maxMessageSize': 20_000, 'amqp.maxLinks': 3 });
});
after(async () => {
  await broker.stop();
});

let counter = 0;
function unique(name: string): string {
  return `amqp.bad.${name}.${Date.now().toString(36)}${counter++}`;
}

/** A well-behaved client sends and receives: whatever a bad one did affected only its own connection. */
async function othersUnaffected(): Promise<void> {
  const c = await connectAmqp(broker.amqpPort);
  try {
    const q = unique('bystander');
    assert.deepEqual(await c.send(await c.openSender(q), { body: 'still here' }), { state: 'accepted' });
    const { inbox } = await c.openReceiver(q);
    assert.equal((await inbox.next()).message.body, 'still here');
  } finally {
    await c.close();
  }
}

/** A raw connection past the header and open, with one session. */
async function opened(): Promise<RawAmqp> {
  const raw = await rawAmqp(broker.amqpPort);
  raw.write(Buffer.concat([AMQP_HEADER, frame(frames.open({ container_id: 'raw' })), frame(frames.begin({ next_outgoing_id: 0, incoming_window: 100, outgoing_window: 100 }))]));
  await raw.waitFor(8);
  return raw;
}

async function closedWith(raw: RawAmqp): Promise<string | undefined> {
  await raw.closed;
  return closeCondition(raw.received());
}

describe('protocol header', () => {
  test('a header that is not AMQP is answered with the broker\'s header, then the socket closes', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await raw.closed;
    assert.deepEqual(raw.received(), SASL_HEADER);
    await othersUnaffected();
  });

  test('an AMQP 0-9-1 header is handed to AMQP 0-9-1, which shares the port: connection.start, not an AMQP 1.0 header', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]));
    const bytes = await raw.waitFor(11);
    // a method frame on channel 0: class 10 (connection), method 10 (start)
    assert.deepEqual([bytes[0], bytes.readUInt16BE(7), bytes.readUInt16BE(9)], [1, 10, 10]);
    raw.socket.destroy();
  });

  test('the header may arrive a byte at a time', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    for (const byte of AMQP_HEADER) {
      raw.write(Buffer.from([byte]));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    raw.write(frame(frames.open({ container_id: 'slow' })));
    const bytes = await raw.waitFor(16);
    assert.deepEqual(bytes.subarray(0, 8), AMQP_HEADER);
    assert.equal(readFrames(bytes)[0]?.name, 'open');
    raw.socket.destroy();
  });
});

describe('frames', () => {
  test('a frame larger than max-frame-size closes the connection with framing-error', async () => {
    const raw = await opened();
    const head = Buffer.alloc(8);
    head.writeUInt32BE(1 << 30, 0);
    head[4] = 2;
    raw.write(head);
    assert.equal(await closedWith(raw), 'amqp:connection:framing-error');
    await othersUnaffected();
  });

  test('a bad data offset closes the connection with framing-error', async () => {
    const raw = await opened();
    raw.write(Buffer.from([0, 0, 0, 8, 1, 0, 0, 0]));
    assert.equal(await closedWith(raw), 'amqp:connection:framing-error');
  });

  test('a performative that does not decode closes the connection with decode-error', async () => {
    const raw = await opened();
    // a described list whose size runs past the frame
    raw.write(Buffer.from([0, 0, 0, 14, 2, 0, 0, 0, 0x00, 0x53, 0x12, 0xd0, 0xff, 0xff]));
    assert.equal(await closedWith(raw), 'amqp:decode-error');
    await othersUnaffected();
  });

  test('a described list that is no performative closes the connection with decode-error, on a channel with a session or without', async () => {
    const raw = await opened();
    // descriptor 0x99 on channel 0, where no begin came yet: an empty list under it
    raw.write(Buffer.from([0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x99, 0x45]));
    assert.equal(await closedWith(raw), 'amqp:decode-error');
    await othersUnaffected();
  });

  test('an unknown format code closes the connection with decode-error', async () => {
    const raw = await opened();
    raw.write(Buffer.from([0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x13, 0x3f]));
    assert.equal(await closedWith(raw), 'amqp:decode-error');
  });
});

describe('links', () => {
  test('a transfer without link credit closes the connection with transfer-limit-exceeded', async () => {
    const raw = await opened();
    // a wildcard is no place to send to: the link is refused, so it never gets credit
    raw.write(frame(frames.attach({ name: 'refused', handle: 0, role: false, target: terminus.target({ address: 'no.*.wildcards' }).described(), initial_delivery_count: 0 })));
    await raw.waitFor(30);
    raw.write(frame(frames.transfer({ handle: 0, delivery_id: 0, delivery_tag: Buffer.from('1'), message_format: 0 }), encodeMessage({ body: 'x' })));
    assert.equal(await closedWith(raw), 'amqp:link:transfer-limit-exceeded');
    await othersUnaffected();
  });

  test('a message larger than amqp.maxMessageSize detaches its link with message-size-exceeded; the connection and what it sent go on', async () => {
    const q = unique('big');
    const c = await connectAmqp(broker.amqpPort);
    try {
      const sender = await c.openSender(q);
      assert.deepEqual(await c.send(sender, { body: 'before' }), { state: 'accepted' });
      const detached = new Promise<AmqpError | undefined>((resolve) => sender.once('sender_error', (ctx: EventContext) => resolve(ctx.sender?.error as AmqpError | undefined)));
      sender.send({ body: 'x'.repeat(30_000) });
      const closedInstead = c.closed.then((error) => ({ condition: `the connection closed with ${error?.condition}` }));
      assert.equal((await Promise.race([detached, closedInstead]))?.condition, 'amqp:link:message-size-exceeded');
      // the same connection sends on another link, and the message taken before the big one is there
      assert.deepEqual(await c.send(await c.openSender(q), { body: 'after' }), { state: 'accepted' });
      assert.equal(c.connection.is_open(), true);
      const { inbox } = await c.openReceiver(q);
      assert.equal((await inbox.next()).message.body, 'before');
      assert.equal((await inbox.next()).message.body, 'after');
    } finally {
      await c.close();
    }
    await othersUnaffected();
  });

  test('transfers of an oversized delivery that cross the broker\'s detach are dropped, not taken for a protocol error', async () => {
    const q = unique('crossing');
    const raw = await opened();
    raw.write(frame(frames.attach({ name: 'crossing', handle: 0, role: false, target: terminus.target({ address: q }).described(), initial_delivery_count: 0 })));
    // the broker's attach and its flow with credit
    await raw.waitFor(60);
    const chunk = Buffer.alloc(3_000, 0x41);
    const parts: Buffer[] = [];
    for (let i = 0; i < 10; i++) parts.push(frame(frames.transfer({ handle: 0, delivery_id: 0, delivery_tag: Buffer.from('t'), message_format: 0, more: true }), chunk));
    parts.push(frame(frames.transfer({ handle: 0, more: false }), chunk));
    parts.push(frame(frames.detach({ handle: 0, closed: true })));
    raw.write(Buffer.concat(parts));
    const brokerDetach = (): { name: string; fields: Record<string, unknown> } | undefined => readFrames(raw.received()).find((f) => f.name === 'detach');
    for (let i = 0; i < 150 && brokerDetach() === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal((brokerDetach()?.fields.error as { condition?: string } | undefined)?.condition, 'amqp:link:message-size-exceeded');
    // the handle is free again, and the connection still takes a message on it
    raw.write(frame(frames.attach({ name: 'again', handle: 0, role: false, target: terminus.target({ address: q }).described(), initial_delivery_count: 0 })));
    raw.write(frame(frames.transfer({ handle: 0, delivery_id: 1, delivery_tag: Buffer.from('s'), message_format: 0, settled: true }), encodeMessage({ body: 'small' })));
    const c = await connectAmqp(broker.amqpPort);
    try {
      const { inbox } = await c.openReceiver(q);
      assert.equal((await inbox.next()).message.body, 'small');
    } finally {
      await c.close();
    }
    assert.equal(closeCondition(raw.received()), undefined);
    raw.socket.destroy();
  });

  test('links past amqp.maxLinks are refused; the connection stays', async () => {
    const c = await connectAmqp(broker.amqpPort);
    for (let i = 0; i < 3; i++) await c.openSender(unique(`limit${i}`));
    await assert.rejects(c.openSender(unique('one-too-many')), /link refused/);
    assert.equal(c.connection.is_open(), true);
    await c.close();
  });

  test('an aborted transfer is dropped; the next one arrives', async () => {
    const q = unique('aborted');
    const raw = await opened();
    raw.write(frame(frames.attach({ name: 'aborting', handle: 0, role: false, target: terminus.target({ address: q }).described(), initial_delivery_count: 0 })));
    // the broker's attach and its flow with credit
    await raw.waitFor(60);
    const payload = encodeMessage({ body: 'half' });
    raw.write(
      Buffer.concat([
        frame(frames.transfer({ handle: 0, delivery_id: 0, delivery_tag: Buffer.from('a'), message_format: 0, settled: true, more: true }), payload.subarray(0, 4)),
        frame(frames.transfer({ handle: 0, aborted: true })),
        frame(frames.transfer({ handle: 0, delivery_id: 1, delivery_tag: Buffer.from('b'), message_format: 0, settled: true }), encodeMessage({ body: 'whole' })),
      ]),
    );
    const c = await connectAmqp(broker.amqpPort);
    const { inbox } = await c.openReceiver(q);
    assert.equal((await inbox.next()).message.body, 'whole');
    await inbox.expectNothing(150);
    await c.close();
    raw.socket.destroy();
  });

  test('a transfer on a handle that was never attached ends its session with unattached-handle; the connection and its other session go on [AMQP 2.7.4]', async () => {
    const q = unique('unattached');
    const raw = await opened();
    const onChannel1 = (performative: unknown, payload?: Buffer): Buffer => frames.write_frame(frames.amqp_frame(1, performative, payload));
    raw.write(
      Buffer.concat([
        onChannel1(frames.begin({ next_outgoing_id: 0, incoming_window: 100, outgoing_window: 100 })),
        frame(frames.transfer({ handle: 7, delivery_id: 0, delivery_tag: Buffer.from('1'), message_format: 0 }), encodeMessage({ body: 'x' })),
        // sent before the client heard of the end: dropped, as the end asks
        frame(frames.flow({ next_incoming_id: 0, incoming_window: 100, next_outgoing_id: 1, outgoing_window: 100, handle: 9, delivery_count: 0, link_credit: 1 })),
        onChannel1(frames.attach({ name: 'after', handle: 0, role: false, target: terminus.target({ address: q }).described(), initial_delivery_count: 0 })),
        onChannel1(frames.transfer({ handle: 0, delivery_id: 0, delivery_tag: Buffer.from('1'), message_format: 0 }), encodeMessage({ body: 'on the other session' })),
      ]),
    );
    const got = await untilFrame(raw, (f) => f.name === 'disposition');
    const end = got.find((f) => f.name === 'end');
    assert.equal((end?.fields['error'] as AmqpError | undefined)?.condition, 'amqp:session:unattached-handle');
    assert.equal(closeCondition(raw.received()), undefined, 'the connection stays open');
    raw.write(frame(frames.end({})));
    const c = await connectAmqp(broker.amqpPort);
    const { inbox } = await c.openReceiver(q);
    assert.equal((await inbox.next()).message.body, 'on the other session');
    await c.close();
    raw.socket.destroy();
  });
});

/** Waits until the frames the broker sent include one that `seen` picks; returns every frame so far. */
async function untilFrame(raw: RawAmqp, seen: (f: { name: string; fields: Record<string, unknown> }) => boolean): Promise<{ name: string; fields: Record<string, unknown> }[]> {
  for (;;) {
    const got = readFrames(raw.received());
    if (got.some(seen)) return got;
    await raw.waitFor(raw.received().length + 1);
  }
}

describe('handles and channels', () => {
  test('the broker numbers its link ends within the client\'s handle-max, lowest free first, and ends the session when none is left [AMQP 2.7.2]', async () => {
    const q = unique('handles');
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(Buffer.concat([AMQP_HEADER, frame(frames.open({ container_id: 'raw' })), frame(frames.begin({ next_outgoing_id: 0, incoming_window: 100, outgoing_window: 100, handle_max: 1 }))]));
    const attach = (name: string, handle: number): Buffer => frame(frames.attach({ name, handle, role: true, source: terminus.source({ address: q }).described() }));
    const attachedAs = async (name: string): Promise<unknown> => (await untilFrame(raw, (f) => f.name === 'attach' && f.fields['name'] === name)).find((f) => f.name === 'attach' && f.fields['name'] === name)!.fields['handle'];
    raw.write(attach('a', 0));
    assert.equal(await attachedAs('a'), 0);
    raw.write(attach('b', 1));
    assert.equal(await attachedAs('b'), 1);
    raw.write(frame(frames.detach({ handle: 0, closed: true })));
    await untilFrame(raw, (f) => f.name === 'detach');
    raw.write(attach('c', 0));
    assert.equal(await attachedAs('c'), 0, 'the handle the detach freed is used again');
    // a third link while the broker's handles 0 and 1 are taken: no handle within the client's handle-max is left
    raw.write(attach('d', 2));
    const got = await untilFrame(raw, (f) => (f.name === 'attach' && f.fields['name'] === 'd') || f.name === 'end' || f.name === 'close');
    const handles = got.filter((f) => f.name === 'attach').map((f) => f.fields['handle'] as number);
    assert.ok(handles.every((h) => h <= 1), `the broker attached on handles ${handles.join(', ')}, past the client's handle-max 1`);
    const end = got.find((f) => f.name === 'end');
    assert.equal((end?.fields['error'] as { condition?: string } | undefined)?.condition, 'amqp:resource-limit-exceeded');
    assert.equal(got.find((f) => f.name === 'close'), undefined, 'the connection stays');
    raw.socket.destroy();
    await othersUnaffected();
  });

  test('an attach with a handle above the broker\'s handle-max closes the connection with framing-error [AMQP 2.7.2]', async () => {
    const raw = await opened();
    // the attach written by hand: its handle 2^32, one past any uint, as a double
    const handle = Buffer.alloc(9);
    handle[0] = 0x82;
    handle.writeDoubleBE(2 ** 32, 1);
    const fields = Buffer.concat([Buffer.from([0xa1, 1, 0x78]), handle, Buffer.from([0x41])]);
    const body = Buffer.concat([Buffer.from([0x00, 0x53, 0x12, 0xc0, fields.length + 1, 3]), fields]);
    const head = Buffer.from([0, 0, 0, 0, 2, 0, 0, 0]);
    head.writeUInt32BE(8 + body.length, 0);
    raw.write(Buffer.concat([head, body]));
    assert.equal(await closedWith(raw), 'amqp:connection:framing-error');
    await othersUnaffected();
  });
});

describe('channels', () => {
  test('a begin on a channel above the broker\'s channel-max closes the connection with framing-error [AMQP 2.7.1]', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(Buffer.concat([AMQP_HEADER, frame(frames.open({ container_id: 'raw' }))]));
    const open = (await untilFrame(raw, (f) => f.name === 'open')).find((f) => f.name === 'open')!;
    const channelMax = open.fields['channel_max'] as number;
    assert.equal(channelMax, 255);
    raw.write(frames.write_frame(frames.amqp_frame(channelMax + 1, frames.begin({ next_outgoing_id: 0, incoming_window: 100, outgoing_window: 100 }))));
    const answer = (await untilFrame(raw, (f) => f.name === 'begin' || f.name === 'close')).find((f) => f.name === 'begin' || f.name === 'close')!;
    assert.equal(answer.name, 'close', `the begin on channel ${channelMax + 1} was answered with a ${answer.name}`);
    assert.equal(await closedWith(raw), 'amqp:connection:framing-error');
    await othersUnaffected();
  });

  test('the broker begins its sessions within the client\'s channel-max: a begin it could not answer there closes the connection', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    const begin = (channel: number): Buffer => frames.write_frame(frames.amqp_frame(channel, frames.begin({ next_outgoing_id: 0, incoming_window: 100, outgoing_window: 100 })));
    raw.write(Buffer.concat([AMQP_HEADER, frame(frames.open({ container_id: 'raw', channel_max: 0 })), begin(0)]));
    await untilFrame(raw, (f) => f.name === 'begin');
    raw.write(begin(1));
    const got = await untilFrame(raw, (f) => f.name === 'close' || (f.name === 'begin' && f.fields['remote_channel'] === 1));
    assert.equal(got.filter((f) => f.name === 'begin').length, 1, 'no begin on a channel past the client\'s channel-max');
    assert.equal(await closedWith(raw), 'amqp:resource-limit-exceeded');
    await othersUnaffected();
  });
});
