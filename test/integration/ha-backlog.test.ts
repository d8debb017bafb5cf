import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { connectStomp } from '../helpers/stomp.js';
import { drain, streamUntil } from '../helpers/stream.js';

/**
 * A backup that takes over a backlog which takes longer to recover than most of a lease renews the
 * lease while it recovers: it does not fence itself, and serves everything that was confirmed.
 */

const LEASE_MS = 1000;
const BACKLOG = 150_000;
const paths: string[] = [];
const processes: BrokerProcess[] = [];

after(async () => {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) await p.stop('SIGKILL');
  for (const path of paths) rmSync(path, { recursive: true, force: true });
});

async function member(data: string, config: string, readyEvent: string): Promise<BrokerProcess> {
  const broker = await spawnBroker(['--data', data, '--config', config, '--ha', '--stomp-port', '0', '--stomp-host', '127.0.0.1'], {}, readyEvent);
  processes.push(broker);
  return broker;
}

test(`a backup taking over ${BACKLOG.toLocaleString('en')} waiting messages renews its ${LEASE_MS} ms lease while it recovers, and serves them all`, { timeout: 300_000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-ha-backlog-'));
  paths.push(data);
  const config = join(data, '..', `${data.split('/').pop()!}.yaml`);
  writeFileSync(config, `ha:\n  leaseDuration: ${LEASE_MS}\n`);
  paths.push(config);
  const primary = await member(data, config, 'broker.started');
  const backup = await member(data, config, 'ha.backup');
  const producer = await connectStomp(primary.ports['stomp']!);
  const confirmed = await streamUntil(producer, '/queue/ha.backlog', 512, (n) => n >= BACKLOG);
  await producer.disconnect();
  await primary.stop('SIGKILL');

  await backup.logged('broker.started', 120_000);
  const recovered = await backup.logged('broker.recovered');
  assert.ok((recovered['messages'] as number) >= confirmed.size, `recovered ${String(recovered['messages'])} of ${confirmed.size}`);
  // a persistent send needs a journal write, which a broker that fenced itself refuses
  const client = await connectStomp(backup.ports['stomp']!);
  await client.sendConfirmed('/queue/ha.after', 'after', { persistent: 'true' });
  await client.disconnect();
  assert.equal(backup.logs.find((e) => e['event'] === 'ha.fenced'), undefined, 'the backup kept its lease through recovery');
  assert.equal(await backup.stop(), 0);
});

test('a backup killed with SIGKILL while it recovers the backlog loses nothing: the next one serves every confirmed message once, in order', { timeout: 300_000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-ha-backlog-'));
  paths.push(data);
  const config = join(data, '..', `${data.split('/').pop()!}.yaml`);
  writeFileSync(config, `ha:\n  leaseDuration: ${LEASE_MS}\n`);
  paths.push(config);
  const primary = await member(data, config, 'broker.started');
  const backup = await member(data, config, 'ha.backup');
  const producer = await connectStomp(primary.ports['stomp']!);
  const confirmed = await streamUntil(producer, '/queue/ha.loading', 512, (n) => n >= 50_000);
  await producer.disconnect();
  await primary.stop('SIGKILL');

  // killed as soon as it has the lease: it is reading the journal and rebuilding the queue
  await backup.logged('ha.primary');
  await backup.stop('SIGKILL');
  assert.equal(backup.logs.find((e) => e['event'] === 'broker.started'), undefined, 'killed before it served');

  const next = await member(data, config, 'broker.started');
  const client = await connectStomp(next.ports['stomp']!);
  const got = (await drain(client, '/queue/ha.loading', confirmed)).map((m) => Number(m.headers['seq']));
  await client.disconnect();
  const present = new Set(got);
  assert.deepEqual([...confirmed].filter((n) => !present.has(n)), [], 'every confirmed message is there');
  assert.equal(new Set(got).size, got.length, 'nothing twice');
  assert.ok(got.every((n, i) => i === 0 || got[i - 1]! < n), 'in the order sent');
  assert.equal(await next.stop(), 0);
});

test('a backup takes over from the journal\'s catalog: it serves before it has read the backlog, then delivers every confirmed message once, in order, before those sent meanwhile', { timeout: 300_000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-ha-backlog-'));
  paths.push(data);
  const config = join(data, '..', `${data.split('/').pop()!}.yaml`);
  // A catalog every MiB of journal, and queues loaded in the background past 1,000 waiting
  // messages. The default lease: the backup sees the primary's process gone well before the primary
  // would be overdue, so it does not replay the journal ahead instead of opening from the catalog.
  writeFileSync(config, `store:\n  loadInBackgroundAbove: 1000\n  journal:\n    catalogEvery: 1048576\n`);
  paths.push(config);
  const primary = await member(data, config, 'broker.started');
  const backup = await member(data, config, 'ha.backup');
  const producer = await connectStomp(primary.ports['stomp']!);
  const queue = '/queue/ha.catalog';
  const confirmed = await streamUntil(producer, queue, 512, (n) => n >= 30_000);
  await producer.disconnect();
  await primary.stop('SIGKILL');

  const opened = await backup.logged('journal.opened-from-catalog', 120_000);
  assert.ok((opened['later'] as number) >= confirmed.size, `the catalog left ${String(opened['later'])} records to read in the background`);
  const loading = await backup.logged('broker.loading');
  assert.equal(loading['references'], null, 'no waiting message was read before the broker served');
  await backup.logged('broker.started');
  const client = await connectStomp(backup.ports['stomp']!);
  const meanwhile = [1_000_001, 1_000_002];
  for (const seq of meanwhile) await client.sendConfirmed(queue, `m${seq}`, { persistent: 'true', seq: String(seq) });
  const got = (await drain(client, queue, new Set([...confirmed, ...meanwhile]))).map((m) => Number(m.headers['seq']));
  await client.disconnect();
  const present = new Set(got);
  assert.deepEqual([...confirmed, ...meanwhile].filter((n) => !present.has(n)), [], 'every confirmed message is there');
  assert.equal(present.size, got.length, 'nothing twice');
  assert.ok(got.every((n, i) => i === 0 || got[i - 1]! < n), 'in the order sent, those sent to the backup last');
  await backup.logged('broker.recovered');
  assert.equal(await backup.stop(), 0);
});
