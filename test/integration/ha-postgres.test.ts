import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { IMessage } from '@stomp/stompjs';
import pg from 'pg';
import { silentLogger } from '../../src/core/index.js';
import { HaLease, PostgresLease } from '../../src/ha/index.js';
import { startPostgres } from '../helpers/postgres.js';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { connectStomp } from '../helpers/stomp.js';
import { within } from '../helpers/raw-stomp.js';

/**
 * Primary and backup on one PostgreSQL database, as two broker processes with folders of their own:
 * the lease is a row in the database, the backup takes over when the primary dies, and a primary
 * paused past its lease commits nothing when it wakes.
 */

const cluster = await startPostgres();
const skip = typeof cluster === 'string' ? cluster : false;
if (typeof cluster !== 'string') after(() => cluster.stop());
const folders: string[] = [];
const processes: BrokerProcess[] = [];
after(async () => {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) await p.stop('SIGKILL');
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

async function member(url: string, readyEvent: string, failback = false, leaseDuration = 4000): Promise<BrokerProcess> {
  const data = mkdtempSync(join(tmpdir(), 'ferry-ha-pg-'));
  folders.push(data);
  const config = join(data, 'ferry.yaml');
  writeFileSync(config, `ha:\n  role: auto\n  leaseDuration: ${leaseDuration}\n  failback: ${failback}\nstore:\n  type: postgres\n  postgres:\n    url: ${JSON.stringify(url)}\n`);
  const broker = await spawnBroker(['--data', data, '--config', config, '--stomp-port', '0', '--stomp-host', '127.0.0.1'], {}, readyEvent);
  processes.push(broker);
  return broker;
}

async function receiveAll(port: number, queue: string, count: number): Promise<IMessage[]> {
  const client = await connectStomp(port);
  const inbox = client.subscribe(queue, { ack: 'auto' });
  const got: IMessage[] = [];
  while (got.length < count) got.push(await inbox.next(30_000));
  await client.disconnect();
  return got;
}

/** The renewal counter of the lease row, as the database has it committed. */
async function leaseCounter(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ record: { counter: number } }>(`SELECT record FROM ferry_lease WHERE name = 'primary'`);
    return result.rows[0]!.record.counter;
  } finally {
    await client.end();
  }
}

/** Resolves with the first counter past `after` that the database shows. */
async function renewedPast(url: string, after: number): Promise<number> {
  for (;;) {
    const counter = await leaseCounter(url).catch(() => after);
    if (counter > after) return counter;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('primary and backup on one PostgreSQL database', { skip }, () => {
  if (typeof cluster === 'string') return;

  test('the backup waits on the lease row and takes over after a kill -9 with every receipted message', async () => {
    const url = await cluster.createDatabase();
    const primary = await member(url, 'broker.started');
    const backup = await member(url, 'ha.backup');
    assert.equal((await backup.logged('ha.backup'))['holder'], (await primary.logged('ha.primary'))['holder']);
    const producer = await connectStomp(primary.ports['stomp']!);
    for (let n = 1; n <= 50; n++) await producer.sendConfirmed('/queue/ha.pg', `m${n}`, { persistent: 'true' });
    await primary.stop('SIGKILL');
    await backup.logged('broker.started');
    const got = await receiveAll(backup.ports['stomp']!, '/queue/ha.pg', 50);
    assert.deepEqual(got.map((m) => m.body), Array.from({ length: 50 }, (_, i) => `m${i + 1}`));
    assert.equal(await backup.stop(), 0);
  });

  test('a database crash-restart shorter than the lease keeps the primary: it renews as soon as the database is back, and the backup keeps waiting', async () => {
    // renewals every 10 s; one may write for 24 s after the start of its last renewal
    const lease = 30_000;
    const url = await cluster.createDatabase();
    const primary = await member(url, 'broker.started', false, lease);
    const backup = await member(url, 'ha.backup', false, lease);
    const holder = (await primary.logged('ha.primary'))['holder'];
    // the outage starts just after a renewal and outlasts the next two regular ones (at 10 and 20 s),
    // and the database is back well within the 24 s
    const before = await renewedPast(url, await leaseCounter(url));
    await cluster.halt('immediate');
    await new Promise((resolve) => setTimeout(resolve, 21_000));
    await cluster.resume();
    const outcome = await Promise.race([renewedPast(url, before).then(() => 'renewed'), primary.exited.then((code) => `exited with ${String(code)}`)]);
    assert.equal(outcome, 'renewed');
    assert.ok(Number((await primary.logged('ha.renewed'))['failures']) >= 2);
    const producer = await connectStomp(primary.ports['stomp']!);
    await producer.sendConfirmed('/queue/ha.pg-blip', 'after the restart', { persistent: 'true' });
    await producer.disconnect();
    const got = await receiveAll(primary.ports['stomp']!, '/queue/ha.pg-blip', 1);
    assert.deepEqual(got.map((m) => m.body), ['after the restart']);
    assert.equal(backup.child.exitCode, null);
    assert.equal(backup.ports['stomp'], undefined, 'the backup still waits');
    assert.equal((await backup.logged('ha.backup'))['holder'], holder);
    assert.equal(await primary.stop(), 0);
    await backup.logged('broker.started');
    assert.equal(await backup.stop(), 0);
  });

  test('a primary paused past its lease commits nothing after it wakes and exits; the backup has the database', async () => {
    const url = await cluster.createDatabase();
    const primary = await member(url, 'broker.started');
    const backup = await member(url, 'ha.backup');
    const stale = await connectStomp(primary.ports['stomp']!);
    primary.child.kill('SIGSTOP');
    await backup.logged('broker.started');
    let staleReceipt = false;
    stale.client.watchForReceipt('stale-1', () => (staleReceipt = true));
    stale.client.publish({ destination: '/queue/ha.pg-paused', body: 'stale', headers: { persistent: 'true', receipt: 'stale-1' } });
    const producer = await connectStomp(backup.ports['stomp']!);
    await producer.sendConfirmed('/queue/ha.pg-paused', 'fresh', { persistent: 'true' });
    primary.child.kill('SIGCONT');
    assert.equal(await primary.exited, 3);
    assert.equal(staleReceipt, false);
    await producer.disconnect();
    const got = await receiveAll(backup.ports['stomp']!, '/queue/ha.pg-paused', 1);
    assert.deepEqual(got.map((m) => m.body), ['fresh']);
    // nothing more: the paused broker's message never reached the database
    const again = await connectStomp(backup.ports['stomp']!);
    await assert.rejects(again.subscribe('/queue/ha.pg-paused').next(1000));
    await again.disconnect();
    await backup.stop();
  });

  test('ha.failback: the restarted preferred primary asks through the database; the holder hands over what it confirmed and waits as the backup', async () => {
    const url = await cluster.createDatabase();
    let preferred = await member(url, 'broker.started', true);
    const other = await member(url, 'ha.backup');
    await preferred.stop('SIGKILL');
    await other.logged('broker.started');
    const producer = await connectStomp(other.ports['stomp']!);
    for (let i = 0; i < 20; i++) await producer.sendConfirmed('/queue/ha.pg-failback', `m${i}`, { persistent: 'true' });
    await producer.disconnect();
    preferred = await member(url, 'ha.backup', true);
    await preferred.logged('broker.started');
    const took = await preferred.logged('ha.primary');
    assert.match(String(took['reason']), /released it to this broker/);
    assert.equal((await other.logged('ha.handed-back'))['to'], took['holder']);
    const got = await receiveAll(preferred.ports['stomp']!, '/queue/ha.pg-failback', 20);
    assert.deepEqual(got.map((m) => m.body), Array.from({ length: 20 }, (_, i) => `m${i}`));
    assert.equal(other.child.exitCode, null, 'the old holder runs on as the backup');
    assert.equal(await preferred.stop(), 0);
    assert.equal(await other.stop(), 0);
  });
});

describe('the lease row on PostgreSQL', { skip }, () => {
  test('a renewal held up until another broker has taken the lease leaves the new holder\'s row alone and fences its broker', async () => {
    const url = await (cluster as Exclude<typeof cluster, string>).createDatabase();
    // statements may wait as long as the test needs: the hold-up is the point
    const store = new PostgresLease(url, 30_000);
    const lease = new HaLease({ store, leaseDuration: 3000, logger: silentLogger, holder: 'broker-a' });
    await lease.acquire();
    const lost = new Promise<string>((resolve) => lease.startRenewing(resolve));
    const other = new pg.Client({ connectionString: url });
    const watcher = new pg.Client({ connectionString: url });
    await other.connect();
    await watcher.connect();
    try {
      // the next renewal's write waits behind this lock, as one delayed on the network would arrive late
      await other.query('BEGIN');
      const held = await other.query<{ record: { generation: number } }>(`SELECT record FROM ferry_lease WHERE name = 'primary' FOR UPDATE`);
      assert.equal(held.rows[0]!.record.generation, 1);
      for (;;) {
        const waiting = await watcher.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'ferry-lease' AND wait_event_type = 'Lock'`);
        if (waiting.rowCount! > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // meanwhile another broker claims the next generation and writes its lease
      await other.query(`INSERT INTO ferry_lease_claims (generation, holder) VALUES (2, 'broker-b')`);
      await other.query(`UPDATE ferry_lease SET record = $1 WHERE name = 'primary'`, [JSON.stringify({ holder: 'broker-b', host: 'b', pid: 1, generation: 2, counter: 0, released: false, leaseDuration: 3000, renewedAt: new Date().toISOString() })]);
      await other.query('COMMIT');
      assert.match(await within(30_000, 'the held-up broker hears it lost the lease', lost), /broker-b|generation 2/);
      const row = await watcher.query<{ record: { holder: string; generation: number } }>(`SELECT record FROM ferry_lease WHERE name = 'primary'`);
      assert.deepEqual({ holder: row.rows[0]!.record.holder, generation: row.rows[0]!.record.generation }, { holder: 'broker-b', generation: 2 });
      assert.equal(lease.role, 'fenced');
    } finally {
      await other.end();
      await watcher.end();
      await store.close();
    }
  });
});
