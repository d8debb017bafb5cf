import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';
import { RawStompClient, encodeRaw, escapeValue, subscribeConfirmed, uniqueName, unescapeValue, type RawFrame } from '../helpers/raw-stomp.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

const clients: StompTestClient[] = [];
async function client(options: Parameters<typeof connectStomp>[1] = {}): Promise<StompTestClient> {
  const c = await connectStomp(broker.stompPort, options);
  clients.push(c);
  return c;
}
const raws: RawStompClient[] = [];
async function raw(version: '1.0' | '1.1' | '1.2' = '1.2'): Promise<RawStompClient> {
  const r = await RawStompClient.open(broker.stompPort);
  raws.push(r);
  await r.connect(version === '1.0' ? { 'accept-version': '1.0' } : { 'accept-version': version });
  return r;
}
after(async () => {
  for (const r of raws) r.destroy();
  await Promise.all(clients.map((c) => c.disconnect()));
});

function queue(name: string): string {
  return `/queue/${uniqueName(name)}`;
}

/** Writes each byte in its own write, letting the event loop turn between them. */
async function writeByteByByte(r: RawStompClient, data: Buffer): Promise<void> {
  for (let i = 0; i < data.length; i++) {
    await r.write(data.subarray(i, i + 1));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function expectMessage(r: RawStompClient): Promise<RawFrame> {
  const frame = await r.nextFrame();
  assert.equal(frame.command, 'MESSAGE', `expected MESSAGE, got ${frame.command} ${JSON.stringify([...frame.headers])}`);
  return frame;
}

describe('frames split across reads', () => {
  test('CONNECT, SUBSCRIBE and SEND written one byte at a time', async () => {
    const q = queue('bytewise');
    const r = await RawStompClient.open(broker.stompPort);
    raws.push(r);
    await writeByteByByte(r, encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost', 'heart-beat': '0,0' }));
    assert.equal((await r.nextFrame()).command, 'CONNECTED');
    await writeByteByByte(r, encodeRaw('SUBSCRIBE', { destination: q, id: 's1', receipt: 'sub' }));
    assert.equal((await r.nextFrame()).headers.get('receipt-id'), 'sub');
    await writeByteByByte(r, encodeRaw('SEND', { destination: q, note: 'grüße 世界' }, 'one byte at a time, ünïcödé'));
    const m = await expectMessage(r);
    assert.equal(m.body.toString('utf8'), 'one byte at a time, ünïcödé');
    assert.equal(m.headers.get('note'), 'grüße 世界');
  });

  test('a content-length body with NUL bytes, one byte at a time', async () => {
    const q = queue('bytewise-binary');
    const r = await raw();
    await r.sendWithReceipt('SUBSCRIBE', { destination: q, id: 's1' });
    const body = Buffer.from([0, 0, 1, 0, 2, 10, 0, 13, 10, 0]);
    await writeByteByByte(r, encodeRaw('SEND', { destination: q, 'content-length': String(body.length) }, body));
    const m = await expectMessage(r);
    assert.ok(m.body.equals(body), `body ${m.body.toString('hex')}`);
    assert.equal(m.headers.get('content-length'), String(body.length));
  });

  test('frames split at every offset of a two-frame stream', async () => {
    const q = queue('split-points');
    const consumer = await client();
    const inbox = await subscribeConfirmed(consumer, q);
    const stream = Buffer.concat([
      encodeRaw('SEND', { destination: q, 'content-length': '3' }, 'a\0b'),
      Buffer.from('\n\r\n'),
      encodeRaw('SEND', { destination: q }, 'second'),
    ]);
    const r = await raw();
    const step = 7;
    for (let split = 1; split < stream.length; split += step) {
      await r.write(stream.subarray(0, split));
      await new Promise((resolve) => setImmediate(resolve));
      await r.write(stream.subarray(split));
      const [first, second] = await inbox.take(2);
      assert.equal(first?.body, 'a\0b', `split at ${split}`);
      assert.equal(second?.body, 'second', `split at ${split}`);
    }
  });
});

describe('many frames in one write', () => {
  test('10 SENDs in one buffer arrive in order', async () => {
    const q = queue('batch');
    const consumer = await client();
    const inbox = await subscribeConfirmed(consumer, q);
    const r = await raw();
    const frames = Array.from({ length: 10 }, (_v, i) => encodeRaw('SEND', { destination: q }, `m${i}`));
    await r.write(Buffer.concat(frames));
    const bodies = (await inbox.take(10)).map((m) => m.body);
    assert.deepEqual(bodies, Array.from({ length: 10 }, (_v, i) => `m${i}`));
  });

  test('CONNECT, SUBSCRIBE, SENDs and DISCONNECT pipelined in one write', async () => {
    const q = queue('pipelined');
    const r = await RawStompClient.open(broker.stompPort);
    raws.push(r);
    await r.write(
      Buffer.concat([
        encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost' }),
        encodeRaw('SUBSCRIBE', { destination: q, id: 's' }),
        encodeRaw('SEND', { destination: q }, 'one'),
        encodeRaw('SEND', { destination: q }, 'two'),
        encodeRaw('DISCONNECT', { receipt: 'done' }),
      ]),
    );
    const frames = await r.untilClosed();
    assert.deepEqual(frames.map((f) => f.command), ['CONNECTED', 'MESSAGE', 'MESSAGE', 'RECEIPT']);
    assert.deepEqual(frames.slice(1, 3).map((f) => f.body.toString()), ['one', 'two']);
    assert.equal(frames[3]?.headers.get('receipt-id'), 'done');
  });

  test('frames after DISCONNECT in the same write are not acted on', async () => {
    const q = queue('after-disconnect');
    const r = await raw();
    await r.write(Buffer.concat([encodeRaw('DISCONNECT', { receipt: 'bye' }), encodeRaw('SEND', { destination: q }, 'too late')]));
    const frames = await r.untilClosed();
    assert.deepEqual(frames.map((f) => f.command), ['RECEIPT']);
    const check = await client();
    const inbox = check.subscribe(q);
    await check.sendConfirmed(q, 'marker');
    assert.equal((await inbox.next()).body, 'marker');
  });

  test('heart-beat EOLs between frames, LF and CRLF, are ignored', async () => {
    const q = queue('eols');
    const consumer = await client();
    const inbox = await subscribeConfirmed(consumer, q);
    const r = await raw();
    await r.write(Buffer.concat([Buffer.from('\n\n\r\n'), encodeRaw('SEND', { destination: q }, 'a'), Buffer.from('\r\n\n'), encodeRaw('SEND', { destination: q }, 'b'), Buffer.from('\n')]));
    assert.deepEqual((await inbox.take(2)).map((m) => m.body), ['a', 'b']);
  });

  test('frames with CRLF line endings (STOMP 1.2)', async () => {
    const q = queue('crlf');
    const r = await raw();
    await r.write(encodeRaw('SUBSCRIBE', { destination: q, id: 'crlf', receipt: 'r1' }, '', '\r\n'));
    assert.equal((await r.nextFrame()).headers.get('receipt-id'), 'r1');
    await r.write(encodeRaw('SEND', { destination: q, custom: 'value' }, 'crlf body', '\r\n'));
    const m = await expectMessage(r);
    assert.equal(m.headers.get('destination'), q);
    assert.equal(m.headers.get('custom'), 'value', 'no CR left in the value');
    assert.equal(m.body.toString(), 'crlf body');
  });
});

describe('header encoding', () => {
  const tricky = 'a:b\nc\\d:e';

  test('STOMP 1.2: a value with ":", "\\n" and "\\\\" round-trips through stompjs', async () => {
    const q = queue('escape-12');
    const c = await client({ version: '1.2' });
    const inbox = await subscribeConfirmed(c, q);
    await c.sendConfirmed(q, 'escaped', { tricky, 'correlation-id': 'x:y\nz' });
    const m = await inbox.next();
    assert.equal(m.headers['tricky'], tricky);
    assert.equal(m.headers['correlation-id'], 'x:y\nz');
  });

  test('STOMP 1.2: escaped names and values on the wire, and a CR', async () => {
    const q = queue('escape-12-raw');
    const r = await raw('1.2');
    await r.sendWithReceipt('SUBSCRIBE', { destination: q, id: 's' });
    await r.send('SEND', [['destination', q], ['k\\cey', escapeValue(tricky)], ['cr', 'a\\rb']], 'x');
    const m = await expectMessage(r);
    const line = m.lines.find(([name]) => name.startsWith('k'));
    assert.deepEqual(line, ['k\\cey', 'a\\cb\\nc\\\\d\\ce']);
    assert.equal(unescapeValue(m.headers.get('cr') ?? ''), 'a\rb');
  });

  test('STOMP 1.1: a value with ":" and "\\n" round-trips on the wire', async () => {
    const q = queue('escape-11');
    const r = await raw('1.1');
    await r.sendWithReceipt('SUBSCRIBE', { destination: q, id: 's' });
    await r.send('SEND', { destination: q, tricky: 'a\\cb\\nc\\\\d\\ce' }, 'x');
    const m = await expectMessage(r);
    assert.equal(m.headers.get('tricky'), 'a\\cb\\nc\\\\d\\ce');
    assert.equal(unescapeValue(m.headers.get('tricky')!), tricky);
  });

  test('a value escaped by a 1.1 producer reaches a 1.2 consumer decoded the same', async () => {
    const q = queue('escape-11-12');
    const consumer = await client({ version: '1.2' });
    const inbox = await subscribeConfirmed(consumer, q);
    const producer = await raw('1.1');
    await producer.sendWithReceipt('SEND', { destination: q, tricky: 'a\\cb\\nc\\\\d\\ce' }, 'x');
    assert.equal((await inbox.next()).headers['tricky'], tricky);
  });

  test('STOMP 1.0 does not unescape: a backslash sequence is kept as it is', async () => {
    const q = queue('escape-10');
    // read on the wire: stompjs unescapes in several passes and reads an escaped backslash before "c" as ":"
    const consumer = await raw('1.2');
    await consumer.sendWithReceipt('SUBSCRIBE', { destination: q, id: 's' });
    const producer = await raw('1.0');
    await producer.sendWithReceipt('SEND', { destination: q, literal: 'a\\cb', colons: 'x:y:z' }, 'x');
    const m = await expectMessage(consumer);
    assert.equal(m.headers.get('literal'), 'a\\\\cb', 'the backslash is escaped for the 1.2 consumer');
    assert.equal(unescapeValue(m.headers.get('literal')!), 'a\\cb');
    assert.equal(unescapeValue(m.headers.get('colons')!), 'x:y:z');
  });

  test('a STOMP 1.0 consumer gets values unescaped on the wire, line breaks replaced', async () => {
    const q = queue('to-10');
    const consumer = await raw('1.0');
    await consumer.sendWithReceipt('SUBSCRIBE', { destination: q });
    const producer = await client({ version: '1.2' });
    await producer.sendConfirmed(q, 'x', { colons: 'x:y', tricky });
    const m = await expectMessage(consumer);
    assert.equal(m.headers.get('colons'), 'x:y');
    const value = m.headers.get('tricky') ?? '';
    assert.equal(value.includes('\n'), false);
    assert.equal(value, 'a:b c\\d:e');
  });

  test('STOMP 1.0: padded headers ("name: value", as the 1.0 examples write them) are trimmed, as ActiveMQ trims them', async () => {
    const q = queue('padded-10');
    const r = await RawStompClient.open(broker.stompPort);
    raws.push(r);
    // a 1.0 client sends no accept-version
    await r.write(encodeRaw('CONNECT', [['host', ' localhost']]));
    assert.equal((await r.nextFrame()).command, 'CONNECTED');
    await r.write(encodeRaw('SUBSCRIBE', [['destination ', ` ${q}`], ['ack', ' client'], ['receipt', ' s1']]));
    const subscribed = await r.nextFrame();
    assert.equal(subscribed.command, 'RECEIPT', `got ${subscribed.command} ${subscribed.headers.get('message') ?? ''}`);
    assert.equal(subscribed.headers.get('receipt-id'), 's1');
    await r.write(encodeRaw('SEND', [['destination', ` ${q}`], ['foo', ' bar '], ['content-length', ' 5 ']], 'hello'));
    const m = await expectMessage(r);
    assert.equal(m.headers.get('destination'), q);
    assert.equal(m.headers.get('foo'), 'bar');
    assert.equal(m.body.toString(), 'hello');
    await r.write(encodeRaw('ACK', [['message-id', ` ${m.headers.get('message-id')!}`], ['receipt', ' a1']]));
    const acked = await r.nextFrame();
    assert.equal(acked.command, 'RECEIPT', `got ${acked.command} ${acked.headers.get('message') ?? ''}`);
    assert.equal(acked.headers.get('receipt-id'), 'a1');
  });

  test('STOMP 1.2 keeps the spaces around a header value: they are part of it', async () => {
    const q = queue('padded-12');
    const r = await raw('1.2');
    await r.sendWithReceipt('SUBSCRIBE', { destination: q, id: 's' });
    await r.send('SEND', { destination: q, foo: ' bar ' }, 'spaced');
    const m = await expectMessage(r);
    assert.equal(m.headers.get('foo'), ' bar ');
  });

  test('of repeated headers the first one counts', async () => {
    const q = queue('repeated');
    const other = queue('repeated.other');
    const r = await raw();
    await r.sendWithReceipt('SUBSCRIBE', { destination: q, id: 's' });
    await r.send('SEND', [['destination', q], ['destination', other], ['x', 'first'], ['x', 'second']], 'x');
    const m = await expectMessage(r);
    assert.equal(m.headers.get('destination'), q);
    assert.deepEqual(m.lines.filter(([name]) => name === 'x'), [['x', 'first']]);
  });

  test('CONNECT headers are not unescaped (STOMP 1.2, Value Encoding)', async () => {
    const clientId = `${uniqueName('cid')}\\cliteral`;
    const topic = `/topic/${uniqueName('connect-raw')}`;
    const first = await RawStompClient.open(broker.stompPort);
    raws.push(first);
    await first.connect({ 'client-id': clientId });
    await first.sendWithReceipt('SUBSCRIBE', { destination: topic, id: 'd', 'activemq.subscriptionName': 'n' });
    // the unescaped form names another client id, so it is not in use
    const second = await RawStompClient.open(broker.stompPort);
    raws.push(second);
    const connected = await second.connect({ 'client-id': clientId.replace('\\c', ':') });
    assert.equal(connected.command, 'CONNECTED');
    const third = await RawStompClient.open(broker.stompPort);
    raws.push(third);
    await third.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', 'client-id': clientId });
    const refused = await third.untilClosed();
    assert.equal(refused[0]?.headers.get('code'), 'FERRY_CLIENT_ID_IN_USE');
  });
});

describe('acknowledgements on the wire', () => {
  test('STOMP 1.0: SUBSCRIBE without id, ACK by message-id', async () => {
    const q = queue('ack-10');
    const r = await raw('1.0');
    await r.sendWithReceipt('SUBSCRIBE', { destination: q, ack: 'client' });
    await r.send('SEND', { destination: q }, 'm1');
    const m = await expectMessage(r);
    assert.equal(m.headers.get('subscription'), q, 'the subscription is named by its destination');
    assert.equal(m.headers.has('ack'), false, 'no ack header before 1.2');
    const id = m.headers.get('message-id')!;
    assert.match(id, /^ID:/, '1.0 values are not escaped');
    await r.sendWithReceipt('ACK', { 'message-id': id });
    await r.sendWithReceipt('UNSUBSCRIBE', { destination: q });
    const check = await client();
    const inbox = check.subscribe(q);
    await check.sendConfirmed(q, 'marker');
    assert.equal((await inbox.next()).body, 'marker');
  });

  test('STOMP 1.0: an unacknowledged message goes back when the client leaves', async () => {
    const q = queue('ack-10-unacked');
    const r = await raw('1.0');
    await r.sendWithReceipt('SUBSCRIBE', { destination: q, ack: 'client' });
    await r.send('SEND', { destination: q }, 'm1');
    await expectMessage(r);
    await r.send('DISCONNECT', { receipt: 'bye' });
    await r.untilClosed();
    const check = await client();
    const m = await check.subscribe(q).next();
    assert.equal(m.body, 'm1');
    assert.equal(m.headers['redelivered'], 'true');
  });

  test('STOMP 1.0: NACK does not exist', async () => {
    const q = queue('nack-10');
    const r = await raw('1.0');
    await r.sendWithReceipt('SUBSCRIBE', { destination: q, ack: 'client' });
    await r.send('SEND', { destination: q }, 'm1');
    const m = await expectMessage(r);
    await r.send('NACK', { 'message-id': m.headers.get('message-id')! });
    const frames = await r.untilClosed();
    assert.equal(frames[0]?.command, 'ERROR');
    assert.equal(frames[0]?.headers.get('code'), 'FERRY_STOMP_PROTOCOL');
  });

  test('STOMP 1.1: ACK by message-id and subscription; MESSAGE has no ack header', async () => {
    const q = queue('ack-11');
    const r = await raw('1.1');
    await r.sendWithReceipt('SUBSCRIBE', { destination: q, id: 'sub-11', ack: 'client-individual' });
    await r.send('SEND', { destination: q }, 'm1');
    await r.send('SEND', { destination: q }, 'm2');
    const m1 = await expectMessage(r);
    const m2 = await expectMessage(r);
    assert.equal(m1.headers.get('subscription'), 'sub-11');
    assert.equal(m1.headers.has('ack'), false);
    await r.sendWithReceipt('ACK', { 'message-id': m2.headers.get('message-id')!, subscription: 'sub-11' });
    await r.sendWithReceipt('NACK', { 'message-id': m1.headers.get('message-id')!, subscription: 'sub-11' });
    // neither comes back: m2 was acknowledged, m1 refused (dead-lettered, as ActiveMQ does)
    await r.send('SEND', { destination: q }, 'marker');
    assert.equal((await expectMessage(r)).body.toString(), 'marker');
  });

  test('STOMP 1.1: an ACK without subscription is refused', async () => {
    const q = queue('ack-11-nosub');
    const r = await raw('1.1');
    await r.sendWithReceipt('SUBSCRIBE', { destination: q, id: 's', ack: 'client' });
    await r.send('SEND', { destination: q }, 'm1');
    const m = await expectMessage(r);
    await r.send('ACK', { 'message-id': m.headers.get('message-id')! });
    const frames = await r.untilClosed();
    assert.equal(frames[0]?.command, 'ERROR');
    assert.equal(frames[0]?.headers.get('code'), 'FERRY_STOMP_PROTOCOL');
    assert.match(frames[0]?.headers.get('message') ?? '', /subscription/);
  });

  test('STOMP 1.1: an ACK naming the wrong subscription is refused', async () => {
    const q = queue('ack-11-wrongsub');
    const r = await raw('1.1');
    await r.sendWithReceipt('SUBSCRIBE', { destination: q, id: 'right', ack: 'client' });
    await r.sendWithReceipt('SUBSCRIBE', { destination: queue('elsewhere'), id: 'wrong', ack: 'client' });
    await r.send('SEND', { destination: q }, 'm1');
    const m = await expectMessage(r);
    await r.send('ACK', { 'message-id': m.headers.get('message-id')!, subscription: 'wrong' });
    const frames = await r.untilClosed();
    assert.equal(frames[0]?.headers.get('code'), 'FERRY_DELIVERY_NOT_FOUND');
  });

  test('STOMP 1.2: ACK by the ack header as id; a redelivery has its own ack id', async () => {
    const q = queue('ack-12');
    const r = await raw('1.2');
    await r.sendWithReceipt('SUBSCRIBE', { destination: q, id: 's', ack: 'client-individual' });
    await r.send('SEND', { destination: q }, 'm1');
    const first = await expectMessage(r);
    const firstAck = first.headers.get('ack')!;
    assert.ok(firstAck.length > 0);
    // unsubscribing returns m1 to the queue; subscribing again delivers it anew
    await r.sendWithReceipt('UNSUBSCRIBE', { id: 's' });
    await r.sendWithReceipt('SUBSCRIBE', { destination: q, id: 's', ack: 'client-individual' });
    const second = await expectMessage(r);
    assert.equal(second.body.toString(), 'm1');
    assert.equal(second.headers.get('redelivered'), 'true');
    const secondAck = second.headers.get('ack')!;
    assert.notEqual(secondAck, firstAck, 'a redelivery has its own ack id');
    await r.sendWithReceipt('ACK', { id: secondAck });
    // the first ack id names a delivery of the ended subscription, which went back at the UNSUBSCRIBE: let go
    await r.sendWithReceipt('ACK', { id: firstAck });
    // one that names no delivery of this connection is an error
    await r.send('ACK', { id: '999999-1' });
    const frames = await r.untilClosed();
    assert.equal(frames[0]?.headers.get('code'), 'FERRY_DELIVERY_NOT_FOUND');
  });

  test('STOMP 1.2: an ACK without id is refused', async () => {
    const r = await raw('1.2');
    await r.send('ACK', { 'message-id': 'x', subscription: 's' });
    const frames = await r.untilClosed();
    assert.equal(frames[0]?.headers.get('code'), 'FERRY_STOMP_PROTOCOL');
  });
});

describe('receipts', () => {
  test('every client frame that asks for a receipt gets one, in order', async () => {
    const q = queue('receipts');
    const r = await raw();
    await r.write(
      Buffer.concat([
        encodeRaw('SUBSCRIBE', { destination: q, id: 's', ack: 'client-individual', receipt: 'subscribe' }),
        encodeRaw('SEND', { destination: q, receipt: 'send-1' }, 'one'),
        encodeRaw('SEND', { destination: q, receipt: 'send-2', persistent: 'true' }, 'two'),
      ]),
    );
    const got = [await r.nextFrame(), await r.nextFrame(), await r.nextFrame(), await r.nextFrame(), await r.nextFrame()];
    const receipts = got.filter((f) => f.command === 'RECEIPT').map((f) => f.headers.get('receipt-id'));
    assert.deepEqual(receipts, ['subscribe', 'send-1', 'send-2']);
    const messages = got.filter((f) => f.command === 'MESSAGE');
    assert.equal(messages.length, 2);
    await r.write(
      Buffer.concat([
        encodeRaw('ACK', { id: messages[0]!.headers.get('ack')!, receipt: 'ack' }),
        encodeRaw('BEGIN', { transaction: 't', receipt: 'begin' }),
        encodeRaw('NACK', { id: messages[1]!.headers.get('ack')!, transaction: 't', receipt: 'nack' }),
        encodeRaw('ABORT', { transaction: 't', receipt: 'abort' }),
        encodeRaw('BEGIN', { transaction: 't2', receipt: 'begin-2' }),
        encodeRaw('SEND', { destination: queue('receipts.out'), transaction: 't2', receipt: 'send-tx' }, 'x'),
        encodeRaw('COMMIT', { transaction: 't2', receipt: 'commit' }),
        encodeRaw('UNSUBSCRIBE', { id: 's', receipt: 'unsubscribe' }),
        encodeRaw('DISCONNECT', { receipt: 'disconnect' }),
      ]),
    );
    const rest = await r.untilClosed();
    assert.deepEqual(
      rest.filter((f) => f.command === 'RECEIPT').map((f) => f.headers.get('receipt-id')),
      ['ack', 'begin', 'nack', 'abort', 'begin-2', 'send-tx', 'commit', 'unsubscribe', 'disconnect'],
    );
    assert.equal(rest.filter((f) => f.command === 'ERROR').length, 0);
  });

  test('a receipt id with special characters comes back decoded the same (STOMP 1.2)', async () => {
    const r = await raw('1.2');
    await r.send('SEND', { destination: queue('receipt-escape'), receipt: escapeValue('id:with\nnewline') }, 'x');
    const frame = await r.nextFrame();
    assert.equal(frame.command, 'RECEIPT');
    assert.equal(unescapeValue(frame.headers.get('receipt-id') ?? ''), 'id:with\nnewline');
  });
});
