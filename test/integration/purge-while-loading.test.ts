import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';

/**
 * A broker killed with a large backlog opens from its journal's catalog at the next start and
 * serves before it has read the backlog back. What an operator sees of a queue meanwhile, and what a
 * purge of it says it dropped, must be what is there: the whole backlog, not the few messages read
 * back so far.
 */

/** Enough that reading the journal back and putting the messages in their queue takes many turns after the broker serves. */
const BACKLOG = 40_000;
const BATCH = 500;
const paths: string[] = [];
const processes: BrokerProcess[] = [];

after(async () => {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) await p.stop('SIGKILL');
  for (const path of paths) rmSync(path, { recursive: true, force: true });
});

async function start(data: string, config: string): Promise<BrokerProcess> {
  const broker = await spawnBroker(['--data', data, '--config', config, '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  processes.push(broker);
  return broker;
}

/** Sends `count` persistent messages, a batch at a time, each batch confirmed by the receipt of its last (receipts come in order). */
async function sendPersistent(client: StompTestClient, destination: string, count: number): Promise<void> {
  for (let sent = 0; sent < count; ) {
    const batch = Math.min(BATCH, count - sent);
    for (let i = 1; i < batch; i++) client.client.publish({ destination, body: `m${sent + i}`, headers: { persistent: 'true' } });
    await client.sendConfirmed(destination, `m${sent + batch}`, { persistent: 'true' });
    sent += batch;
  }
}

interface QueueItem {
  readonly depth: number;
  readonly loading: boolean;
  readonly toLoad: number | null;
}

async function api<T>(broker: BrokerProcess, method: string, path: string): Promise<T> {
  const answer = await fetch(`http://127.0.0.1:${broker.ports['http']!}${path}`, { method });
  assert.equal(answer.status, 200, `${method} ${path}: ${answer.status} ${await answer.clone().text()}`);
  return (await answer.json()) as T;
}

/** A broker killed with a `BACKLOG`-message queue stale and a one-message queue kept, in a fresh data folder, to be started again from its catalog with the returned config. */
async function killedWithBacklog(): Promise<{ data: string; config: string }> {
  const data = mkdtempSync(join(tmpdir(), 'ferry-purge-loading-'));
  paths.push(data);
  const config = join(data, '..', `${data.split('/').pop()!}.yaml`);
  // a catalog every MiB of journal, so the start after the kill opens from it and reads the backlog back while it serves
  writeFileSync(config, 'store:\n  loadInBackgroundAbove: 1000\n  journal:\n    catalogEvery: 1048576\n');
  paths.push(config);
  const first = await start(data, config);
  const producer = await connectStomp(first.ports['stomp']!);
  await sendPersistent(producer, '/queue/stale', BACKLOG);
  await producer.sendConfirmed('/queue/kept', 'keep me', { persistent: 'true' });
  await producer.disconnect();
  await first.stop('SIGKILL');
  return { data, config };
}

test(`a purge through the management API while a ${BACKLOG.toLocaleString('en')}-message backlog loads says it dropped all of it, and the audit log says so too; the queue shows it is loading`, { timeout: 300_000 }, async () => {
  const { data, config } = await killedWithBacklog();
  const broker = await start(data, config);
  await broker.logged('journal.opened-from-catalog');
  const before = await api<QueueItem>(broker, 'GET', '/api/v1/destinations/queue/stale');
  assert.equal(before.loading, true, `the queue is still loading when the broker serves: ${JSON.stringify(before)}`);
  const listed = await api<{ items: (QueueItem & { name: string })[] }>(broker, 'GET', '/api/v1/destinations?kind=queue');
  assert.equal(listed.items.find((d) => d.name === 'stale')?.loading, true, 'the listing says so too');

  const { purged } = await api<{ purged: number }>(broker, 'POST', '/api/v1/destinations/queue/stale/purge');
  assert.equal(purged, BACKLOG, 'the purge counts the messages it dropped that were still to be loaded');
  const audit = await broker.logged('management.purged');
  assert.equal(audit['count'], BACKLOG, 'the audit event carries the same count');

  await broker.logged('broker.recovered');
  const discarded = await broker.logged('broker.load-discarded');
  assert.equal(discarded['references'], BACKLOG);
  assert.equal(broker.logs.find((e) => e['event'] === 'store.orphans'), undefined, 'a purged backlog is no orphan');
  const afterwards = await api<QueueItem>(broker, 'GET', '/api/v1/destinations/queue/stale');
  assert.deepEqual({ depth: afterwards.depth, loading: afterwards.loading, toLoad: afterwards.toLoad }, { depth: 0, loading: false, toLoad: 0 });
  assert.equal(await broker.stop(), 0);

  const again = await start(data, config);
  await again.logged('broker.recovered');
  assert.equal((await api<QueueItem>(again, 'GET', '/api/v1/destinations/queue/stale')).depth, 0, 'the purged messages are gone from the store');
  assert.equal((await api<QueueItem>(again, 'GET', '/api/v1/destinations/queue/kept')).depth, 1, 'another queue kept its message');
  assert.equal(again.logs.find((e) => e['event'] === 'store.orphans'), undefined);
  assert.equal(await again.stop(), 0);
});

test(`a clean stop right after a purge of a ${BACKLOG.toLocaleString('en')}-message backlog still loading deletes the whole backlog first: the next start does not bring the purged messages back`, { timeout: 300_000 }, async () => {
  const { data, config } = await killedWithBacklog();
  const broker = await start(data, config);
  await broker.logged('journal.opened-from-catalog');
  const { purged } = await api<{ purged: number }>(broker, 'POST', '/api/v1/destinations/queue/stale/purge');
  assert.equal(purged, BACKLOG);
  // at once: recovery has most of the backlog's references still to delete
  assert.equal(await broker.stop('SIGTERM'), 0);

  const again = await start(data, config);
  await again.logged('broker.recovered');
  assert.equal((await api<QueueItem>(again, 'GET', '/api/v1/destinations/queue/stale')).depth, 0, 'the messages the purge said it dropped stay gone after a clean stop');
  assert.equal((await api<QueueItem>(again, 'GET', '/api/v1/destinations/queue/kept')).depth, 1, 'another queue kept its message');
  assert.equal(again.logs.find((e) => e['event'] === 'store.orphans'), undefined, 'the stop deleted the purged messages with their references');
  assert.equal(await again.stop(), 0);
});
