import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Broker, type CoreConnection, type Destination } from '../../src/core/index.js';
import { PostgresStore } from '../../src/store/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect091 } from '../helpers/amqp091.js';
import { startPostgres } from '../helpers/postgres.js';
import { eventually, uniqueName } from '../helpers/raw-stomp.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';
import { browseAll, consume } from '../helpers/core-consumer.js';

// The PostgreSQL store reads asynchronously only: bodies past the cache limit leave memory, and core
// reads each back before it needs it, never synchronously. These tests check that every body comes
// back whole and in order, over STOMP and through core's other paths, and across a restart.

const cluster = await startPostgres();
const skip = typeof cluster === 'string' ? cluster : false;
if (typeof cluster !== 'string') after(() => cluster.stop());

const KIB = 1024;

/** A text body of `size` bytes that names its message. */
function textOf(i: number, size = KIB): string {
  const head = `message ${i};`;
  return head + String.fromCharCode(97 + (i % 26)).repeat(size - head.length);
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

function assertTexts(received: readonly string[], expected: readonly number[], size = KIB): void {
  assert.equal(received.length, expected.length);
  for (let k = 0; k < expected.length; k++) {
    if (received[k] !== textOf(expected[k]!, size)) assert.fail(`delivery ${k} should be message ${expected[k]}, got "${received[k]!.slice(0, 16)}" (${received[k]!.length} bytes)`);
  }
}

describe('message bodies in the PostgreSQL store, over STOMP', { skip }, () => {
  if (typeof cluster === 'string') return;
  const clients: StompTestClient[] = [];
  after(() => Promise.all(clients.map((c) => c.disconnect())));
  const client = async (port: number): Promise<StompTestClient> => {
    const c = await connectStomp(port);
    clients.push(c);
    return c;
  };
  const brokerOn = (url: string, cache: number): Promise<TestBroker> => startBroker({ 'store.type': 'postgres', 'store.postgres.url': url, 'store.bodyCacheSize': cache });
  const sendAll = async (c: StompTestClient, queue: string, count: number): Promise<void> => {
    for (let i = 0; i < count; i += 100) {
      await Promise.all(range(Math.min(100, count - i), i).map((k) => c.sendConfirmed(queue, textOf(k), { persistent: 'true' })));
    }
  };

  test('a backlog past the cache leaves memory, is browsed and consumed whole and in order', async () => {
    const url = await cluster.createDatabase();
    const queue = `/queue/${uniqueName('pg-bodies')}`;
    const broker = await brokerOn(url, 64 * KIB);
    try {
      const producer = await client(broker.stompPort);
      await sendAll(producer, queue, 2000);
      const stored = broker.server.broker.stats().messageBodies;
      assert.ok(stored.residentBytes <= 64 * KIB, `${stored.residentBytes} bytes of bodies in memory, the limit is ${64 * KIB}`);
      assert.ok(stored.onDisk >= 2000 - 64, `${stored.onDisk} bodies on disk only`);

      const browser = await client(broker.stompPort);
      const view = browser.subscribe(queue, { browser: 'true' });
      const browsed = await view.take(2001, 20_000);
      assert.equal(browsed[2000]!.headers['browser'], 'end');
      assertTexts(
        browsed.slice(0, 2000).map((m) => m.body),
        range(2000),
      );
      const afterBrowse = broker.server.broker.stats().messageBodies;
      assert.ok(afterBrowse.residentBytes <= 64 * KIB, `a browse keeps no bodies: ${afterBrowse.residentBytes} bytes in memory after it`);
      assert.ok(afterBrowse.onDisk >= 2000 - 64, `${afterBrowse.onDisk} bodies on disk after the browse`);

      const consumer = await client(broker.stompPort);
      const inbox = consumer.subscribe(queue, { ack: 'auto' });
      assertTexts(
        (await inbox.take(2000, 20_000)).map((m) => m.body),
        range(2000),
      );
      const consumed = broker.server.broker.stats().messageBodies;
      assert.ok(consumed.readAhead >= 1900, `${consumed.readAhead} bodies read ahead of delivery`);
    } finally {
      await broker.stop();
    }
  });

  test('while the database is away, bodies on disk wait for it: nothing goes out in their place, and once it is back all arrive whole and in order', async () => {
    const url = await cluster.createDatabase();
    const queue = `/queue/${uniqueName('pg-away')}`;
    const logLines: Record<string, unknown>[] = [];
    const broker = await startBroker({ 'store.type': 'postgres', 'store.postgres.url': url, 'store.bodyCacheSize': 64 * KIB }, { logLines });
    try {
      await sendAll(await client(broker.stompPort), queue, 500);
      assert.ok(broker.server.broker.stats().messageBodies.onDisk >= 500 - 64, 'the oldest bodies are in the database only');
      const consumer = await client(broker.stompPort);
      await cluster.halt();
      let inbox;
      try {
        inbox = consumer.subscribe(queue, { ack: 'auto' });
        await eventually('a read of bodies failed', () => logLines.some((line) => line['event'] === 'body-cache.read-failed'), 15_000);
        // only bodies still in memory can go out meanwhile; the order check below shows that none of
        // them overtook the first message whose body waits in the database
        assert.ok(inbox.size <= 64, `${inbox.size} delivered while the database was away, more than the cache holds`);
        assert.ok(inbox.size < 500, 'the bodies in the database waited for it');
      } finally {
        await cluster.resume();
      }
      // the read is tried again every second until the database answers
      assertTexts(
        (await inbox.take(500, 30_000)).map((m) => m.body),
        range(500),
      );
      assert.ok(broker.server.broker.isRunning, 'the broker kept running');
    } finally {
      await broker.stop();
    }
  });

  test('an AMQP 0-9-1 basic.get whose message waits in the database answers with it, not with get-empty', async () => {
    const url = await cluster.createDatabase();
    const queue = uniqueName('pg-get');
    const broker = await brokerOn(url, 64 * KIB);
    const connection = await connect091(broker.amqpPort);
    try {
      const ch = await connection.createConfirmChannel();
      await ch.assertQueue(queue, { durable: true });
      for (let i = 0; i < 300; i++) ch.sendToQueue(queue, Buffer.from(textOf(i)), { persistent: true });
      await ch.waitForConfirms();
      assert.ok(broker.server.broker.stats().messageBodies.onDisk >= 300 - 64, 'the oldest bodies are in the database only');
      const got: string[] = [];
      for (let i = 0; i < 300; i++) {
        const message = await Promise.race([ch.get(queue, { noAck: true }), new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`get ${i} got no answer`)), 10_000))]);
        assert.ok(message !== false, `get ${i} found the queue empty, with ${300 - i} messages waiting`);
        got.push(message.content.toString());
      }
      assertTexts(got, range(300));
      assert.equal(await ch.get(queue, { noAck: true }), false, 'an empty queue still answers get-empty');
    } finally {
      await connection.close();
      await broker.stop();
    }
  });

  test('after a restart with a small cache the bodies stay in the database until they are delivered', async () => {
    const url = await cluster.createDatabase();
    const queue = `/queue/${uniqueName('pg-restart')}`;
    const first = await brokerOn(url, 64 * KIB);
    try {
      await sendAll(await client(first.stompPort), queue, 1500);
    } finally {
      await first.stop();
    }
    const second = await brokerOn(url, 64 * KIB);
    try {
      const recovered = second.server.broker.stats().messageBodies;
      assert.ok(recovered.residentBytes <= 64 * KIB, `${recovered.residentBytes} bytes of bodies in memory after recovery`);
      assert.ok(recovered.onDisk >= 1500 - 64, `${recovered.onDisk} bodies left in the database by recovery`);
      const inbox = (await client(second.stompPort)).subscribe(queue, { ack: 'auto' });
      assertTexts(
        (await inbox.take(1500, 20_000)).map((m) => m.body),
        range(1500),
      );
    } finally {
      await second.stop();
    }
  });
});

function bodyOf(i: number, size = KIB): Buffer {
  return Buffer.from(textOf(i, size));
}

function assertBodies(received: readonly Buffer[], expected: readonly number[]): void {
  assertTexts(
    received.map((b) => b.toString()),
    expected,
  );
}

async function sendAll(connection: CoreConnection, destination: Destination, count: number, headers: (i: number) => { expiration?: number; properties?: Map<string, string> } = () => ({})): Promise<void> {
  const session = connection.createSession();
  let window: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const durable = session.send({ destination, body: bodyOf(i), persistent: true, ...headers(i) });
    if (durable !== null) window.push(durable);
    if (window.length >= 100) {
      await Promise.all(window);
      window = [];
    }
  }
  await Promise.all(window);
  // evictions run after the send that made them
  await new Promise((resolve) => setImmediate(resolve));
}

describe('message bodies in the PostgreSQL store, through core', { skip }, () => {
  if (typeof cluster === 'string') return;

  test('the store reads asynchronously only, and selectors, redelivery, dead letters, browsing, transfers and gets all read bodies back', async () => {
    const store = new PostgresStore({ url: await cluster.createDatabase() });
    assert.ok(store.reader !== undefined);
    assert.equal('readSync' in store.reader, false, 'the PostgreSQL reader has no synchronous read');
    let reads = 0;
    const reader = store.reader;
    const readMany = reader.readMany.bind(reader);
    // counted, so that the test sees the bodies come back through the one asynchronous read
    reader.readMany = (ids) => {
      reads++;
      return readMany(ids);
    };
    let now = Date.now();
    const broker = new Broker({ store, bodyCacheSize: 16 * KIB, clock: () => now, expirySweepInterval: 60_000 });
    await broker.start();
    try {
      const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });

      const shards: Destination = { kind: 'queue', name: 'shards' };
      await sendAll(connection, shards, 400, (i) => ({ properties: new Map([['shard', String(i % 2)]]) }));
      assert.ok(broker.stats().messageBodies.onDisk > 300);
      const odd = consume(connection, shards, 200, { selector: "shard = '1'" });
      assertBodies(
        await odd.done,
        range(200).map((k) => 2 * k + 1),
      );
      const even = consume(connection, shards, 200, { selector: "shard = '0'" });
      assertBodies(
        await even.done,
        range(200).map((k) => 2 * k),
      );

      const again: Destination = { kind: 'queue', name: 'again' };
      await sendAll(connection, again, 300);
      const first = consume(connection, again, 300, { acknowledge: false, prefetch: 300 });
      assertBodies(await first.done, range(300));
      first.consumer.close();
      assertBodies(await consume(connection, again, 300).done, range(300));

      // expired messages move to the dead-letter queue as copies: their bodies are read back first
      const expiring: Destination = { kind: 'queue', name: 'expiring' };
      await sendAll(connection, expiring, 300, () => ({ expiration: now + 1000 }));
      assert.ok(broker.stats().messageBodies.onDisk > 250);
      now += 2000;
      const dlq = consume(connection, { kind: 'queue', name: 'ActiveMQ.DLQ' }, 300);
      consume(connection, expiring, 1);
      assertBodies(await dlq.done, range(300));

      const browsed: Destination = { kind: 'queue', name: 'browsed' };
      await sendAll(connection, browsed, 200);
      assertBodies(await browseAll(connection, browsed), range(200));
      assert.ok(broker.stats().messageBodies.residentBytes <= 16 * KIB, 'a browse does not keep the bodies it read');

      // an operator's move reads the bodies back, and the moved messages arrive whole
      const moved = await broker.admin.transferAll('browsed', {}, 'move', { kind: 'queue', name: 'moved' });
      assert.equal(moved, 200);
      assertBodies(await consume(connection, { kind: 'queue', name: 'moved' }, 200).done, range(200));

      // the management API's view of a message reads its body back
      const kept: Destination = { kind: 'queue', name: 'kept' };
      await sendAll(connection, kept, 100);
      const last = broker.admin.browse('kept', undefined, 99, 1).items;
      const [whole] = await broker.admin.withBodies(last);
      assertBodies([whole!.message.body], [99]);

      // a get (AMQP 0-9-1) is answered at once: a body not in memory yet comes with a later get
      const gets: Destination = { kind: 'queue', name: 'gets' };
      await sendAll(connection, gets, 100);
      assert.ok(broker.stats().messageBodies.onDisk > 50);
      const session = connection.createSession();
      const taken: Buffer[] = [];
      let empty = 0;
      while (taken.length < 100 && empty < 100_000) {
        const got = session.get('gets', 'auto');
        if (got === undefined) {
          empty++;
          await new Promise((resolve) => setImmediate(resolve));
        } else taken.push(Buffer.from(got.delivery.message.body));
      }
      assertBodies(taken, range(100));
      assert.ok(empty > 0, 'some gets came before their bodies were back');

      assert.ok(reads > 0);
      assert.equal(broker.stats().messageBodies.onDisk > 0, true, 'bodies still wait in the database');
    } finally {
      await broker.stop();
    }
  });
});
