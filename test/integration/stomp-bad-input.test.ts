import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';
import { RawStompClient, encodeRaw, eventually, subscribeConfirmed, uniqueName, type RawFrame } from '../helpers/raw-stomp.js';

const limits = {
  'stomp.maxFrameSize': 1024,
  'stomp.maxHeaderSize': 512,
  'stomp.maxHeaders': 10,
  'stomp.connectTimeout': 200,
  'stomp.maxSubscriptions': 5,
};

let broker: TestBroker;
before(async () => {
  broker = await startBroker(limits);
});
after(async () => {
  await broker.stop();
});

const clients: StompTestClient[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.disconnect()));
});

function queue(name: string): string {
  return `/queue/${uniqueName(name)}`;
}

interface BadInput {
  /** Complete a CONNECT (and send one message with a receipt) before the bad bytes. */
  readonly connectFirst: boolean;
  /** The bad bytes; an array is written one element per write. Empty: say nothing at all. */
  readonly bytes: Buffer | string | readonly (Buffer | string)[];
  readonly code: string;
  /** What the ERROR's message header must mention. */
  readonly message: RegExp;
  readonly receiptId?: string;
}

/**
 * Runs one kind of bad input against the broker and checks what every such case must hold: the bad
 * client gets one ERROR (with code and message) as its last frame and is closed; a client connected
 * before it carries on sending and receiving; messages accepted before the bad input are delivered.
 */
async function expectRejected(name: string, bad: BadInput): Promise<RawFrame> {
  const live = queue(`${name}.live`);
  const accepted = queue(`${name}.accepted`);
  const other = await connectStomp(broker.stompPort);
  clients.push(other);
  const liveInbox = await subscribeConfirmed(other, live);
  await other.sendConfirmed(accepted, 'accepted from the other client', { persistent: 'true' });

  const raw = await RawStompClient.open(broker.stompPort);
  try {
    if (bad.connectFirst) {
      await raw.connect();
      await raw.sendWithReceipt('SEND', { destination: accepted, persistent: 'true' }, 'accepted from the bad client');
    }
    for (const part of Array.isArray(bad.bytes) ? bad.bytes : [bad.bytes]) {
      if (!raw.isOpen) break;
      await raw.write(part as Buffer | string).catch(() => {});
    }
    const frames = await raw.untilClosed(5000);
    assert.ok(frames.length >= 1, `an ERROR frame before the close; received ${JSON.stringify(raw.received.toString('latin1'))}`);
    const error = frames[frames.length - 1]!;
    assert.equal(error.command, 'ERROR');
    assert.deepEqual(frames.map((f) => f.command).filter((c) => c === 'ERROR'), ['ERROR'], 'one ERROR frame');
    assert.equal(error.headers.get('code'), bad.code);
    const message = error.headers.get('message') ?? '';
    assert.match(message, bad.message);
    if (bad.receiptId !== undefined) assert.equal(error.headers.get('receipt-id'), bad.receiptId);
    assert.equal(raw.isOpen, false, 'the broker closed the connection');

    await other.sendConfirmed(live, 'after the bad input');
    assert.equal((await liveInbox.next()).body, 'after the bad input');
    const acceptedInbox = other.subscribe(accepted);
    const expected = bad.connectFirst ? ['accepted from the other client', 'accepted from the bad client'] : ['accepted from the other client'];
    assert.deepEqual((await acceptedInbox.take(expected.length)).map((m) => m.body), expected);
    return error;
  } finally {
    raw.destroy();
    await other.disconnect();
  }
}

describe('malformed frames', () => {
  test('an unknown command', async () => {
    await expectRejected('unknown-command', { connectFirst: true, bytes: 'FLY\ndestination:/queue/x\n\n\0', code: 'FERRY_STOMP_BAD_FRAME', message: /FLY/ });
  });

  test('a lower-case command', async () => {
    await expectRejected('lower-case', { connectFirst: true, bytes: encodeRaw('send', { destination: queue('x') }, 'b'), code: 'FERRY_STOMP_BAD_FRAME', message: /send/ });
  });

  test('a header line without a colon', async () => {
    await expectRejected('no-colon', {
      connectFirst: true,
      bytes: `SEND\ndestination:${queue('x')}\nthis line has no colon\n\nbody\0`,
      code: 'FERRY_STOMP_BAD_FRAME',
      message: /colon/,
    });
  });

  test('a header line with an empty name', async () => {
    await expectRejected('empty-name', { connectFirst: true, bytes: `SEND\ndestination:${queue('x')}\n:value\n\nbody\0`, code: 'FERRY_STOMP_BAD_FRAME', message: /name/ });
  });

  test('an undefined escape sequence in a STOMP 1.2 header', async () => {
    await expectRejected('bad-escape', { connectFirst: true, bytes: `SEND\ndestination:${queue('x')}\nx:a\\tb\n\nbody\0`, code: 'FERRY_STOMP_BAD_FRAME', message: /escape/ });
  });

  test('a content-length that is not a number', async () => {
    await expectRejected('bad-length', { connectFirst: true, bytes: `SEND\ndestination:${queue('x')}\ncontent-length:ten\n\nbody\0`, code: 'FERRY_STOMP_BAD_FRAME', message: /content-length/ });
  });

  test('a content-length body not followed by NUL', async () => {
    await expectRejected('no-nul', { connectFirst: true, bytes: `SEND\ndestination:${queue('x')}\ncontent-length:2\n\nbody\0`, code: 'FERRY_STOMP_BAD_FRAME', message: /NUL/ });
  });

  test('an HTTP request on the STOMP port', async () => {
    await expectRejected('http', { connectFirst: false, bytes: 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n', code: 'FERRY_STOMP_BAD_FRAME', message: /GET/ });
  });

  test('frames after a malformed one in the same write are not acted on', async () => {
    const q = queue('after-bad');
    await expectRejected('pipelined-after-bad', {
      connectFirst: true,
      bytes: Buffer.concat([Buffer.from('FLY\n\n\0'), encodeRaw('SEND', { destination: q }, 'must not arrive')]),
      code: 'FERRY_STOMP_BAD_FRAME',
      message: /FLY/,
    });
    const c = await connectStomp(broker.stompPort);
    clients.push(c);
    const inbox = c.subscribe(q);
    await c.sendConfirmed(q, 'marker');
    assert.equal((await inbox.next()).body, 'marker');
  });
});

describe('limits', () => {
  test('a body over stomp.maxFrameSize, without content-length', async () => {
    await expectRejected('big-body', {
      connectFirst: true,
      bytes: encodeRaw('SEND', { destination: queue('x') }, 'x'.repeat(2000)),
      code: 'FERRY_STOMP_FRAME_TOO_LARGE',
      message: /maxFrameSize|1024/,
    });
  });

  test('a body over stomp.maxFrameSize, announced by content-length', async () => {
    await expectRejected('big-length', {
      connectFirst: true,
      bytes: encodeRaw('SEND', { destination: queue('x'), 'content-length': '5000' }, 'x'.repeat(5000)),
      code: 'FERRY_STOMP_FRAME_TOO_LARGE',
      message: /maxFrameSize|1024/,
    });
  });

  test('a body over stomp.maxFrameSize that never ends', async () => {
    const chunks: string[] = [`SEND\ndestination:${queue('x')}\n\n`];
    for (let i = 0; i < 8; i++) chunks.push('y'.repeat(300));
    await expectRejected('endless-body', { connectFirst: true, bytes: chunks, code: 'FERRY_STOMP_FRAME_TOO_LARGE', message: /maxFrameSize|1024/ });
  });

  test('a body of exactly stomp.maxFrameSize is accepted', async () => {
    const q = queue('exact-size');
    const { raw } = await RawStompClient.connected(broker.stompPort);
    const body = 'z'.repeat(1024);
    await raw.sendWithReceipt('SEND', { destination: q }, body);
    await raw.sendWithReceipt('SEND', { destination: q, 'content-length': '1024' }, body);
    await raw.sendWithReceipt('SUBSCRIBE', { destination: q, id: 's' });
    const m1 = await raw.nextFrame();
    const m2 = await raw.nextFrame();
    assert.equal(m1.body.length, 1024);
    assert.equal(m2.body.length, 1024);
    raw.destroy();
  });

  test('a header block over stomp.maxHeaderSize', async () => {
    await expectRejected('big-header', {
      connectFirst: true,
      bytes: encodeRaw('SEND', { destination: queue('x'), filler: 'f'.repeat(1000) }, 'b'),
      code: 'FERRY_STOMP_HEADER_TOO_LARGE',
      message: /maxHeaderSize|512/,
    });
  });

  test('a header line that never ends', async () => {
    const chunks: string[] = [`SEND\ndestination:${queue('x')}\nendless:`];
    for (let i = 0; i < 6; i++) chunks.push('e'.repeat(200));
    await expectRejected('endless-header', { connectFirst: true, bytes: chunks, code: 'FERRY_STOMP_HEADER_TOO_LARGE', message: /maxHeaderSize|512/ });
  });

  test('a command line that never ends, before CONNECT', async () => {
    await expectRejected('endless-command', { connectFirst: false, bytes: ['C'.repeat(300), 'C'.repeat(300)], code: 'FERRY_STOMP_HEADER_TOO_LARGE', message: /maxHeaderSize|512/ });
  });

  test('more headers than stomp.maxHeaders', async () => {
    const headers: [string, string][] = [['destination', queue('x')]];
    for (let i = 0; i < 20; i++) headers.push([`h${i}`, 'v']);
    await expectRejected('many-headers', { connectFirst: true, bytes: encodeRaw('SEND', headers, 'b'), code: 'FERRY_STOMP_HEADER_TOO_LARGE', message: /maxHeaders|10/ });
  });

  test('exactly stomp.maxHeaders headers are accepted', async () => {
    const q = queue('ten-headers');
    const { raw } = await RawStompClient.connected(broker.stompPort);
    await raw.sendWithReceipt('SUBSCRIBE', { destination: q, id: 's' });
    const headers: Record<string, string> = { destination: q, receipt: 'ten' };
    for (let i = 0; i < 8; i++) headers[`h${i}`] = String(i);
    await raw.send('SEND', headers, 'ten headers');
    const frames = [await raw.nextFrame(), await raw.nextFrame()];
    const message = frames.find((f) => f.command === 'MESSAGE');
    assert.ok(frames.some((f) => f.command === 'RECEIPT'));
    assert.equal(message?.headers.get('h7'), '7');
    raw.destroy();
  });

  test('more subscriptions than stomp.maxSubscriptions on one connection', async () => {
    const frames = Array.from({ length: 6 }, (_v, i) => encodeRaw('SUBSCRIBE', { destination: queue(`subs-${i}`), id: `s${i}` }));
    await expectRejected('many-subscriptions', { connectFirst: true, bytes: Buffer.concat(frames), code: 'FERRY_STOMP_PROTOCOL', message: /maxSubscriptions|5/ });
  });
});

describe('protocol errors', () => {
  test('a SEND before CONNECT', async () => {
    await expectRejected('send-first', { connectFirst: false, bytes: encodeRaw('SEND', { destination: queue('x') }, 'too early'), code: 'FERRY_STOMP_NOT_CONNECTED', message: /CONNECT/ });
  });

  test('a SEND before CONNECT is not delivered, nor anything pipelined after it', async () => {
    const q = queue('early');
    await expectRejected('send-first-pipelined', {
      connectFirst: false,
      bytes: Buffer.concat([encodeRaw('SEND', { destination: q }, 'too early'), encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost' })]),
      code: 'FERRY_STOMP_NOT_CONNECTED',
      message: /CONNECT/,
    });
    const c = await connectStomp(broker.stompPort);
    clients.push(c);
    const inbox = c.subscribe(q);
    await c.sendConfirmed(q, 'marker');
    assert.equal((await inbox.next()).body, 'marker');
  });

  test('a client that connects and says nothing', async () => {
    const started = Date.now();
    await expectRejected('silent', { connectFirst: false, bytes: [], code: 'FERRY_STOMP_CONNECT_TIMEOUT', message: /CONNECT/ });
    assert.ok(Date.now() - started >= 150, 'not before the connect timeout');
  });

  test('a client that sends only part of its CONNECT', async () => {
    await expectRejected('half-connect', { connectFirst: false, bytes: 'CONNECT\naccept-version:1.2\n', code: 'FERRY_STOMP_CONNECT_TIMEOUT', message: /CONNECT/ });
  });

  test('a SEND without destination', async () => {
    await expectRejected('no-destination', {
      connectFirst: true,
      bytes: encodeRaw('SEND', { receipt: 'r-no-dest' }, 'nowhere'),
      code: 'FERRY_STOMP_PROTOCOL',
      message: /destination/,
      receiptId: 'r-no-dest',
    });
  });

  test('a destination without a /queue/-style prefix', async () => {
    await expectRejected('no-prefix', { connectFirst: true, bytes: encodeRaw('SEND', { destination: 'orders' }, 'x'), code: 'FERRY_DESTINATION_INVALID', message: /\/queue\// });
  });

  test('a destination that is only a prefix', async () => {
    await expectRejected('prefix-only', { connectFirst: true, bytes: encodeRaw('SEND', { destination: '/queue/' }, 'x'), code: 'FERRY_DESTINATION_INVALID', message: /name/ });
  });

  test('a SUBSCRIBE without destination', async () => {
    await expectRejected('subscribe-no-destination', { connectFirst: true, bytes: encodeRaw('SUBSCRIBE', { id: 's1' }), code: 'FERRY_STOMP_PROTOCOL', message: /destination/ });
  });

  test('a STOMP 1.2 SUBSCRIBE without id', async () => {
    await expectRejected('subscribe-no-id', { connectFirst: true, bytes: encodeRaw('SUBSCRIBE', { destination: queue('x') }), code: 'FERRY_STOMP_PROTOCOL', message: /id/ });
  });

  test('two subscriptions with one id', async () => {
    await expectRejected('duplicate-id', {
      connectFirst: true,
      bytes: Buffer.concat([encodeRaw('SUBSCRIBE', { destination: queue('a'), id: 'dup' }), encodeRaw('SUBSCRIBE', { destination: queue('b'), id: 'dup' })]),
      code: 'FERRY_CONSUMER_EXISTS',
      message: /dup/,
    });
  });

  test('an UNSUBSCRIBE of an unknown id', async () => {
    await expectRejected('unsubscribe-unknown', { connectFirst: true, bytes: encodeRaw('UNSUBSCRIBE', { id: 'never' }), code: 'FERRY_CONSUMER_NOT_FOUND', message: /never/ });
  });

  test('a server frame sent by a client', async () => {
    await expectRejected('server-frame', { connectFirst: true, bytes: encodeRaw('MESSAGE', { destination: queue('x') }, 'x'), code: 'FERRY_STOMP_PROTOCOL', message: /MESSAGE/ });
  });

  test('a bad priority value', async () => {
    await expectRejected('bad-priority', { connectFirst: true, bytes: encodeRaw('SEND', { destination: queue('x'), priority: 'urgent' }, 'x'), code: 'FERRY_STOMP_PROTOCOL', message: /priority/ });
  });

  test('a bad expires value', async () => {
    await expectRejected('bad-expires', { connectFirst: true, bytes: encodeRaw('SEND', { destination: queue('x'), expires: 'tomorrow' }, 'x'), code: 'FERRY_STOMP_PROTOCOL', message: /expires/ });
  });
});

describe('clients that vanish', () => {
  test('a socket closed in the middle of a frame: the partial frame is dropped, others carry on', async () => {
    const q = queue('half-frame');
    const other = await connectStomp(broker.stompPort);
    clients.push(other);
    const { raw } = await RawStompClient.connected(broker.stompPort);
    await raw.write(`SEND\ndestination:${q}\n\nhalf a bo`);
    raw.destroy();
    await raw.closed;
    const inbox = other.subscribe(q);
    await other.sendConfirmed(q, 'marker');
    assert.equal((await inbox.next()).body, 'marker');
  });

  test('many bad clients in a row leave the broker serving', async () => {
    const q = queue('many-bad');
    const other = await connectStomp(broker.stompPort);
    clients.push(other);
    const inbox = await subscribeConfirmed(other, q);
    const bads = ['FLY\n\n\0', encodeRaw('SEND', { destination: 'x' }), 'GET / HTTP/1.0\r\n\r\n', '\0\0\0\n'];
    await Promise.all(
      Array.from({ length: 20 }, async (_v, i) => {
        const raw = await RawStompClient.open(broker.stompPort);
        await raw.write(bads[i % bads.length]!).catch(() => {});
        await raw.untilClosed(5000);
        raw.destroy();
      }),
    );
    await other.sendConfirmed(q, 'still serving');
    assert.equal((await inbox.next()).body, 'still serving');
  });

  test('no connection is left behind by the clients that were refused', async () => {
    await Promise.all(clients.splice(0).map((c) => c.disconnect()));
    await eventually('every connection released', () => broker.server.broker.stats().connections === 0);
    const c = await connectStomp(broker.stompPort);
    assert.equal(broker.server.broker.stats().connections, 1);
    await c.disconnect();
  });
});
