import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { startPostgres } from '../helpers/postgres.js';
import { ApiClient } from '../helpers/management.js';
import { until } from '../helpers/network.js';
import { runFerry, spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { RawStompClient, subscribeConfirmed, uniqueName, withReceipt } from '../helpers/raw-stomp.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';

const cluster = await startPostgres();
const skip = typeof cluster === 'string' ? cluster : false;
if (typeof cluster !== 'string') after(() => cluster.stop());

const clients: StompTestClient[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.disconnect()));
});

async function client(port: number, clientId?: string): Promise<StompTestClient> {
  const c = await connectStomp(port, clientId === undefined ? {} : { headers: { 'client-id': clientId } });
  clients.push(c);
  return c;
}

describe('a broker on the PostgreSQL store', { skip }, () => {
  if (typeof cluster === 'string') return;

  const brokerOn = (url: string): Promise<TestBroker> => startBroker({ 'store.type': 'postgres', 'store.postgres.url': url });

  test('receipted persistent sends, a committed transaction and a durable subscription come back after a restart', async () => {
    const url = await cluster.createDatabase();
    const queue = `/queue/${uniqueName('pg')}`;
    const topic = `/topic/${uniqueName('pg')}`;
    const subscriberId = uniqueName('sub');

    const first = await brokerOn(url);
    try {
      const subscriber = await client(first.stompPort, subscriberId);
      await subscribeConfirmed(subscriber, topic, { 'activemq.subscriptionName': 'audit' });
      await subscriber.disconnect();

      const producer = await client(first.stompPort);
      const sends: Promise<void>[] = [];
      // many receipts in flight at once: they share commits
      for (let i = 0; i < 200; i++) sends.push(producer.sendConfirmed(queue, `m${i}`, { persistent: 'true' }));
      await Promise.all(sends);

      const committed = producer.client.begin();
      for (const body of ['t1', 't2']) producer.client.publish({ destination: queue, body, headers: { transaction: committed.id, persistent: 'true' } });
      committed.commit();
      const aborted = producer.client.begin();
      producer.client.publish({ destination: queue, body: 'never', headers: { transaction: aborted.id, persistent: 'true' } });
      aborted.abort();
      // a receipt comes only after every earlier store sync of the connection: the commit's too

      for (let i = 0; i < 5; i++) await producer.sendConfirmed(topic, `t${i}`, { persistent: 'true' });

      // ten consumed and acknowledged before the restart stay consumed
      const consumer = await client(first.stompPort);
      const inbox = consumer.subscribe(queue, { ack: 'client-individual' });
      const taken = await inbox.take(10);
      for (const m of taken) await withReceipt(consumer, (receipt) => m.ack(receipt));
      await consumer.disconnect();
    } finally {
      await first.stop();
    }

    const second = await brokerOn(url);
    try {
      const consumer = await client(second.stompPort);
      const inbox = consumer.subscribe(queue);
      const expected = [...Array.from({ length: 190 }, (_, i) => `m${i + 10}`), 't1', 't2'];
      assert.deepEqual(
        (await inbox.take(expected.length)).map((m) => m.body),
        expected,
      );
      await inbox.expectNothing(200);

      const subscriber = await client(second.stompPort, subscriberId);
      const audit = subscriber.subscribe(topic, { 'activemq.subscriptionName': 'audit' });
      assert.deepEqual(
        (await audit.take(5)).map((m) => m.body),
        ['t0', 't1', 't2', 't3', 't4'],
      );
    } finally {
      await second.stop();
    }
  });

  test('a database an older Ferry wrote (schema version 1) is raised to 2 with its messages kept, so older brokers refuse it from then on; one of a newer Ferry is refused', async () => {
    const url = await cluster.createDatabase();
    const queue = `/queue/${uniqueName('pg-schema')}`;
    const first = await brokerOn(url);
    try {
      const producer = await client(first.stompPort);
      for (let i = 0; i < 3; i++) await producer.sendConfirmed(queue, `m${i}`, { persistent: 'true' });
    } finally {
      await first.stop();
    }
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    const version = async (): Promise<number> => Number((await db.query("SELECT value FROM ferry_meta WHERE key = 'schema_version'")).rows[0].value);
    try {
      assert.equal(await version(), 2);
      await db.query("UPDATE ferry_meta SET value = 1 WHERE key = 'schema_version'");
      const second = await brokerOn(url);
      try {
        assert.equal(await version(), 2);
        const consumer = await client(second.stompPort);
        assert.deepEqual((await consumer.subscribe(queue).take(3)).map((m) => m.body), ['m0', 'm1', 'm2']);
      } finally {
        await second.stop();
      }
      await db.query("UPDATE ferry_meta SET value = 3 WHERE key = 'schema_version'");
      await assert.rejects(brokerOn(url), /schema version 3, newer than this broker's \(2\)/);
      assert.equal(await version(), 3);
    } finally {
      await db.end();
    }
  });

  test('kill -9 of the broker mid-stream: every receipted message comes back, once and in order', async () => {
    const url = await cluster.createDatabase();
    const data = mkdtempSync(join(tmpdir(), 'ferry-pg-kill-'));
    const config = join(data, 'ferry.yaml');
    writeFileSync(config, `store:\n  type: postgres\n  postgres:\n    url: ${JSON.stringify(url)}\n`);
    const start = (): Promise<BrokerProcess> => spawnBroker(['--data', data, '--config', config, '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
    const queue = '/queue/pg.kill';
    try {
      const first = await start();
      const producer = await connectStomp(first.ports['stomp']!);
      const confirmed = new Set<number>();
      let killed: Promise<number | null> | undefined;
      let outstanding = 0;
      let wake: (() => void) | undefined;
      producer.closed.then(() => wake?.());
      // at most 64 sends without their receipt, until 1,000 receipts are in: then SIGKILL, sends still in flight
      for (let n = 1; killed === undefined; n++) {
        while (outstanding >= 64) await new Promise<void>((resolve) => (wake = resolve));
        outstanding++;
        producer.client.watchForReceipt(`s-${n}`, () => {
          confirmed.add(n);
          outstanding--;
          if (confirmed.size >= 1000) killed ??= first.stop('SIGKILL');
          wake?.();
        });
        producer.client.publish({ destination: queue, body: `m${n}`, headers: { persistent: 'true', seq: String(n), receipt: `s-${n}` } });
        if (n % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await killed;
      await producer.closed;
      const receipted = new Set(confirmed);

      const second = await start();
      try {
        const consumer = await connectStomp(second.ports['stomp']!);
        const inbox = consumer.subscribe(queue);
        const seqs: number[] = [];
        const missing = new Set(receipted);
        while (missing.size > 0) {
          const seq = Number((await inbox.next(30_000)).headers['seq']);
          seqs.push(seq);
          missing.delete(seq);
        }
        assert.equal(new Set(seqs).size, seqs.length, 'none twice');
        for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `in order: ${seqs[i - 1]} then ${seqs[i]}`);
        await consumer.disconnect();
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  test('while the database is away, a persistent send already taken waits for its RECEIPT until the database is back, and new persistent sends get an ERROR; the broker carries on', async () => {
    const url = await cluster.createDatabase();
    const queue = `/queue/${uniqueName('pg-away')}`;
    const broker = await brokerOn(url);
    const raw: RawStompClient[] = [];
    try {
      const before = (await RawStompClient.connected(broker.stompPort)).raw;
      raw.push(before);
      await before.sendWithReceipt('SEND', { destination: queue, persistent: 'true' }, 'stored before');

      await cluster.halt();
      let error;
      try {
        await before.send('SEND', { destination: queue, persistent: 'true', receipt: 'in-doubt' }, 'taken before the failure was known');
        while (broker.server.broker.stats().store.refusing === null) await new Promise((resolve) => setTimeout(resolve, 20));
        const refused = (await RawStompClient.connected(broker.stompPort)).raw;
        raw.push(refused);
        await refused.send('SEND', { destination: queue, persistent: 'true', receipt: 'refused' }, 'refused');
        error = await refused.nextFrame(15_000);
      } finally {
        await cluster.resume();
      }
      assert.equal(error.command, 'ERROR');
      assert.equal(error.headers.get('code'), 'FERRY_STORE_FAILED');
      // the first commit after the database is back may wait out the store's retry delay (at most 2 s)
      const receipt = await before.nextFrame(15_000);
      assert.equal(receipt.command, 'RECEIPT');
      assert.equal(receipt.headers.get('receipt-id'), 'in-doubt');

      const after = (await RawStompClient.connected(broker.stompPort)).raw;
      raw.push(after);
      await after.sendWithReceipt('SEND', { destination: queue, persistent: 'true' }, 'stored after');
    } finally {
      for (const r of raw) r.destroy();
      await broker.stop();
    }

    const again = await brokerOn(url);
    try {
      assert.equal(again.server.broker.stats().queues.find((q) => `/queue/${q.name}` === queue)?.pending, 3, 'the refused send was not stored');
      const consumer = await client(again.stompPort);
      const inbox = consumer.subscribe(queue);
      assert.deepEqual(
        (await inbox.take(3)).map((m) => m.body),
        ['stored before', 'taken before the failure was known', 'stored after'],
      );
    } finally {
      await again.stop();
    }
  });

  test('a commit held up past store.postgres.queryTimeout (another session holds ferry_meta) and tried again: a message consumed and acknowledged meanwhile does not come back after a restart', async () => {
    const url = await cluster.createDatabase();
    const queue = `/queue/${uniqueName('pg-held')}`;
    const broker = await startBroker({ 'store.type': 'postgres', 'store.postgres.url': url, 'store.postgres.queryTimeout': 1500 });
    const admin = new pg.Client({ connectionString: url, application_name: 'admin' });
    const holder = new pg.Client({ connectionString: url, application_name: 'holder' });
    await admin.connect();
    await holder.connect();
    const waitingOnLocks = async (): Promise<number[]> =>
      (await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ferry' AND wait_event_type = 'Lock'")).rows.map((row) => row.pid);
    let holding = false;
    try {
      const producer = await client(broker.stompPort);
      await producer.sendConfirmed(queue, 'before', { persistent: 'true' });
      const consumer = await client(broker.stompPort);
      const inbox = consumer.subscribe(queue, { ack: 'client-individual' });
      const before = await inbox.next();
      await withReceipt(consumer, (receipt) => before.ack(receipt));

      await holder.query('BEGIN');
      await holder.query('SELECT key FROM ferry_meta FOR UPDATE');
      holding = true;
      const stored = producer.sendConfirmed(queue, 'held', { persistent: 'true' });
      const held = await inbox.next();
      let first: number | undefined;
      await until('the commit to wait on the lock', async () => (first = (await waitingOnLocks())[0]) !== undefined);
      const acknowledged = withReceipt(consumer, (receipt) => held.ack(receipt));
      await until('the commit to be given up on', () => broker.server.broker.stats().store.refusing !== null);
      await until('the retry to wait on the lock', async () => (await waitingOnLocks()).some((pid) => pid !== first));
      holding = false;
      await holder.query('COMMIT');
      await stored;
      await acknowledged;
    } finally {
      if (holding) await holder.query('COMMIT');
      await holder.end();
      await admin.end();
      await broker.stop();
    }

    const again = await brokerOn(url);
    try {
      assert.equal(again.server.broker.stats().queues.find((q) => `/queue/${q.name}` === queue)?.pending, 0, 'both messages stay consumed');
      const consumer = await client(again.stompPort);
      await consumer.subscribe(queue).expectNothing(500);
    } finally {
      await again.stop();
    }
  });

  test('the management API, ferry store and /metrics report the PostgreSQL store, and its failing commits while the database is away', async () => {
    const url = await cluster.createDatabase();
    const queue = `/queue/${uniqueName('pg-report')}`;
    const broker = await brokerOn(url);
    const raw: RawStompClient[] = [];
    try {
      const api = new ApiClient(broker.server.ports['http']!);
      const producer = await client(broker.stompPort);
      for (let i = 0; i < 3; i++) await producer.sendConfirmed(queue, `m${i}`, { persistent: 'true' });

      const view = (await api.get<Record<string, any>>('/api/v1/broker')).body['store'];
      assert.equal(view.type, 'postgres');
      assert.equal(view.failing, null);
      assert.ok(view.records >= 3 && view.bytes > 0, JSON.stringify(view));
      const report = await api.get<Record<string, any>>('/api/v1/store');
      assert.equal(report.status, 200);
      assert.equal(report.body['type'], 'postgres');
      assert.equal(report.body['failedCommits'], 0);
      const cli = await runFerry(['store', '--http-port', String(broker.server.ports['http'])]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /PostgreSQL store: \d+ live record\(s\)/);
      assert.match(cli.stdout, /commits: going through/);
      const scrape = (await api.get('/metrics')).text;
      assert.match(scrape, /^ferry_store_refusing 0$/m);
      assert.match(scrape, /^ferry_postgres_failed_commits_total 0$/m);

      await cluster.halt();
      try {
        const before = (await RawStompClient.connected(broker.stompPort)).raw;
        raw.push(before);
        await before.send('SEND', { destination: queue, persistent: 'true', receipt: 'in-doubt' }, 'taken while the database is away');
        while (broker.server.broker.stats().store.refusing === null) await new Promise((resolve) => setTimeout(resolve, 20));
        const failing = await api.get<Record<string, any>>('/api/v1/store');
        assert.equal(failing.body['type'], 'postgres');
        assert.ok(failing.body['failing'] !== null && failing.body['failing'].failedBatches >= 1, JSON.stringify(failing.body));
        assert.ok(!Number.isNaN(Date.parse(failing.body['failing'].since)));
        assert.ok(failing.body['failedCommits'] >= 1);
        assert.notEqual((await api.get<Record<string, any>>('/api/v1/broker')).body['store'].failing, null);
        const failingCli = await runFerry(['store', '--http-port', String(broker.server.ports['http'])]);
        assert.equal(failingCli.code, 0, failingCli.stderr);
        assert.match(failingCli.stdout, /commits: failing since /);
        const failingScrape = (await api.get('/metrics')).text;
        const check = spawnSync('promtool', ['check', 'metrics'], { input: failingScrape, encoding: 'utf8' });
        assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
        assert.match(failingScrape, /^ferry_store_refusing 1$/m);
        assert.match(failingScrape, /^ferry_postgres_failed_commits_total [1-9]\d*$/m);
      } finally {
        await cluster.resume();
      }
      assert.equal((await raw[0]!.nextFrame(15_000)).command, 'RECEIPT');
      assert.equal((await api.get<Record<string, any>>('/api/v1/store')).body['failing'], null);
    } finally {
      for (const r of raw) r.destroy();
      await broker.stop();
    }
  });

  test('a connection dropped while waiting messages are read back in the background: the reading goes on after the last one read, every message is delivered once, and the broker carries on', async () => {
    const database = `ferry_${process.pid}_load`;
    const url = await cluster.createDatabase(database);
    const queue = `/queue/${uniqueName('pg-load')}`;
    // more than two of the store's fetches (5,000 rows each), so that the drop comes between two
    const count = 12_000;
    const first = await brokerOn(url);
    try {
      const producer = await client(first.stompPort);
      for (let i = 0; i < count; i += 1000) {
        const sends: Promise<void>[] = [];
        for (let k = i; k < i + 1000; k++) sends.push(producer.sendConfirmed(queue, `m${k}`, { persistent: 'true' }));
        await Promise.all(sends);
      }
      await producer.disconnect();
    } finally {
      await first.stop();
    }

    // the broker reaches the database through this relay, which holds back the second fetch of the
    // background reading until the server has ended every connection of the database
    let fetches = 0;
    let heldFetch!: () => void;
    const fetchHeld = new Promise<void>((resolve) => (heldFetch = resolve));
    const sockets = new Set<Socket>();
    const relay: Server = createServer((fromBroker) => {
      const toServer = connect(join(cluster.socketDir, '.s.PGSQL.5432'));
      sockets.add(fromBroker).add(toServer);
      let tail = '';
      fromBroker.on('data', (chunk: Buffer) => {
        const text = tail + chunk.toString('latin1');
        tail = text.slice(-64);
        if (text.includes('FETCH') && text.includes('ferry_later') && ++fetches === 2) {
          heldFetch();
          return;
        }
        toServer.write(chunk);
      });
      toServer.on('data', (chunk: Buffer) => fromBroker.write(chunk));
      const end = (): void => {
        fromBroker.destroy();
        toServer.destroy();
      };
      fromBroker.on('close', end).on('error', end);
      toServer.on('close', end).on('error', end);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const relayPort = (relay.address() as { port: number }).port;
    const logLines: Record<string, unknown>[] = [];
    const second = await startBroker(
      { 'store.type': 'postgres', 'store.postgres.url': `postgresql://ferry@127.0.0.1:${relayPort}/${database}`, 'store.loadInBackgroundAbove': 1000 },
      { logLines },
    );
    try {
      await fetchHeld;
      assert.ok((await cluster.terminate(database)) > 0);
      await second.server.broker.loaded;
      assert.ok(logLines.some((line) => line['event'] === 'postgres.load-failed'), 'the failed reading was logged');

      const consumer = await client(second.stompPort);
      const inbox = consumer.subscribe(queue);
      const bodies = (await inbox.take(count, 60_000)).map((m) => m.body);
      assert.deepEqual(bodies, Array.from({ length: count }, (_, k) => `m${k}`));
      await consumer.sendConfirmed(queue, 'after', { persistent: 'true' });
      assert.equal((await inbox.next(10_000)).body, 'after');
      assert.equal(logLines.find((line) => line['event'] === 'broker.load-failed'), undefined);
    } finally {
      await second.stop();
      for (const socket of sockets) socket.destroy();
      relay.close();
    }
  });
});

if (typeof cluster === 'string') test('a broker on the PostgreSQL store', { skip }, () => undefined);
