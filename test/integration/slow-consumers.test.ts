import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { encodeRaw, parseFrames, type RawFrame } from '../helpers/raw-stomp.js';
import { connectStomp } from '../helpers/stomp.js';

/**
 * A topic subscriber that stops reading its socket (a raw STOMP client that pauses it): by its
 * topic's policy the broker notes it, closes its connection after the grace, or drops its oldest
 * messages; the broker's memory is not what it costs, and other clients carry on.
 */

const LIMIT = 200;
const BODY = 'x'.repeat(4096);
/** Enough 4 KiB messages to fill the socket buffers on both sides many times over. */
const FLOOD = 6000;

let broker: TestBroker;
const logLines: Record<string, unknown>[] = [];

before(async () => {
  broker = await startBroker(
    {
      'destinations.policies': [
        { match: 'slow.notify', kind: 'topic', pendingMessageLimit: LIMIT, slowConsumerPolicy: 'notify' },
        { match: 'slow.abort', kind: 'topic', pendingMessageLimit: LIMIT, slowConsumerPolicy: 'abort', slowConsumerGrace: 100 },
        { match: 'slow.evict', kind: 'topic', pendingMessageLimit: LIMIT, slowConsumerPolicy: 'evict-oldest' },
        { match: 'slow.evictp', kind: 'topic', pendingMessageLimit: LIMIT, slowConsumerPolicy: 'evict-oldest' },
      ],
    },
    { logLines },
  );
});
after(() => broker.stop());

interface RawClient {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  /** Frames read so far (only while reading). */
  readonly frames: RawFrame[];
  next(command: string): Promise<RawFrame>;
}

async function rawClient(): Promise<RawClient> {
  const socket = connect(broker.stompPort, '127.0.0.1');
  socket.on('error', () => {});
  const frames: RawFrame[] = [];
  let buffered = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    const parsed = parseFrames(buffered);
    frames.push(...parsed.frames);
    buffered = Buffer.from(parsed.rest);
    wake?.();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const client: RawClient = {
    socket,
    closed,
    frames,
    async next(command) {
      for (;;) {
        const at = frames.findIndex((f) => f.command === command);
        if (at >= 0) return frames.splice(at, 1)[0]!;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
  socket.write(encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost' }));
  await client.next('CONNECTED');
  return client;
}

/** A subscriber that reads until subscribed, then stops reading its socket for good. */
async function stalledSubscriber(topic: string): Promise<RawClient> {
  const client = await rawClient();
  client.socket.write(encodeRaw('SUBSCRIBE', { id: '1', destination: `/topic/${topic}`, receipt: 'sub' }));
  await client.next('RECEIPT');
  client.socket.pause();
  return client;
}

/** Sends `count` messages to the topic, `seq` 1..count, non-persistent unless `persistent`, and waits for a receipt after the last. */
async function flood(topic: string, count: number, persistent = false): Promise<void> {
  const producer = await rawClient();
  for (let from = 1; from <= count; from += 500) {
    const frames: Buffer[] = [];
    for (let n = from; n < Math.min(from + 500, count + 1); n++) frames.push(encodeRaw('SEND', { destination: `/topic/${topic}`, seq: String(n), persistent: String(persistent) }, BODY));
    producer.socket.write(Buffer.concat(frames));
  }
  producer.socket.write(encodeRaw('SEND', { destination: '/queue/fence', receipt: 'done' }, 'fence'));
  await producer.next('RECEIPT');
  producer.socket.end();
}

async function until(what: string, done: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('slow consumers on a topic', () => {
  test('notify: a log line and a count, and the subscriber stays connected', async () => {
    const before = broker.server.broker.stats().slowConsumers.notified;
    const slow = await stalledSubscriber('slow.notify');
    await flood('slow.notify', FLOOD);
    await until('the slow consumer is counted', () => broker.server.broker.stats().slowConsumers.notified === before + 1);
    assert.ok(logLines.some((l) => l['event'] === 'subscription.slow-consumer' && String(l['subscription']).length > 0));
    assert.equal(slow.socket.destroyed, false);
    slow.socket.destroy();
  });

  test('abort: the connection is closed after the grace, and every other client carries on', async () => {
    const before = broker.server.broker.stats().slowConsumers.aborted;
    const slow = await stalledSubscriber('slow.abort');
    const other = await connectStomp(broker.stompPort);
    const inbox = other.subscribe('/queue/bystander');
    await flood('slow.abort', FLOOD);
    await until('the slow consumer is closed', () => broker.server.broker.stats().slowConsumers.aborted === before + 1);
    assert.ok(logLines.some((l) => l['event'] === 'connection.slow-consumer-closed'));
    // a paused socket hears of nothing: reading again, the client finds its connection ended
    slow.socket.resume();
    await slow.closed;
    assert.equal(slow.frames.find((f) => f.command === 'ERROR')?.headers.get('code'), 'FERRY_SLOW_CONSUMER');
    await other.sendConfirmed('/queue/bystander', 'still here');
    assert.equal((await inbox.next()).body, 'still here');
    await other.disconnect();
  });

  test('evict-oldest: the subscription keeps its newest messages, and the subscriber that reads again gets the last one', async () => {
    const before = broker.server.broker.stats().slowConsumers.evicted;
    const slow = await stalledSubscriber('slow.evict');
    await flood('slow.evict', FLOOD);
    const evicted = broker.server.broker.stats().slowConsumers.evicted - before;
    assert.ok(evicted > 0, 'messages were evicted');
    slow.socket.resume();
    for (;;) {
      const frame = await slow.next('MESSAGE');
      if (frame.headers.get('seq') === String(FLOOD)) break;
    }
    const delivered = FLOOD - evicted;
    assert.ok(delivered < FLOOD, `${delivered} of ${FLOOD} delivered`);
    slow.socket.destroy();
  });

  test('evict-oldest: persistent messages are evicted too, as a non-durable subscription does not keep them, and the subscriber that reads again gets the last one', async () => {
    const before = broker.server.broker.stats().slowConsumers.evicted;
    const slow = await stalledSubscriber('slow.evictp');
    await flood('slow.evictp', FLOOD, true);
    const evicted = broker.server.broker.stats().slowConsumers.evicted - before;
    assert.ok(evicted > 0, 'persistent messages were evicted');
    slow.socket.resume();
    for (;;) {
      const frame = await slow.next('MESSAGE');
      if (frame.headers.get('seq') === String(FLOOD)) break;
    }
    slow.socket.destroy();
  });
});
