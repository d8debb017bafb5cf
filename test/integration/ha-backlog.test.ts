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

// shorter than the recovery takes, so it must be renewed meanwhile; not so short that a broker
// starved of CPU on a loaded machine fences itself between two renewals
const LEASE_MS = 2000;
const SERVING_LEASE_MS = 5000;
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

/** A message as the consumer got it. */
interface Delivery {
  readonly seq: number;
  /** Which of the brokers that served the consumer one after the other delivered it, from 0. */
  readonly served: number;
  readonly redelivered: boolean;
  /** Its acknowledgement had been confirmed by an earlier delivery. */
  readonly afterAck: boolean;
}

/**
 * Consumes `destination` from the broker `start` starts, acknowledging every message with a receipt,
 * until each of `expected` has been delivered, then until nothing more comes for half a second and
 * every acknowledgement is confirmed. A broker on a loaded machine may fence itself while it serves
 * (its renewals late past 80 % of the lease): it drops the consumer and stops, and the next one
 * started serves the rest. What the fenced one delivered may or may not come again: it may have
 * written an acknowledgement whose receipt it never sent. A broker that drops the consumer without
 * having fenced itself fails the test.
 */
async function consumeAcross(start: () => Promise<BrokerProcess>, destination: string, expected: ReadonlySet<number>, brokers = 5): Promise<{ deliveries: Delivery[]; last: BrokerProcess }> {
  const deliveries: Delivery[] = [];
  const acknowledged = new Set<number>();
  for (let served = 0; ; served++) {
    const broker = await start();
    const delivered = new Set(deliveries.map((d) => d.seq));
    const awaited = new Set([...expected].filter((n) => !delivered.has(n)));
    const receipts: Promise<void>[] = [];
    try {
      const client = await connectStomp(broker.ports['stomp']!);
      let dropped = false;
      const closed = client.closed.then(() => {
        dropped = true;
        return undefined;
      });
      const inbox = client.subscribe(destination, { ack: 'client-individual' });
      for (;;) {
        // what came before the connection dropped is taken first
        const next = inbox.size > 0 ? inbox.next() : Promise.race([inbox.next(awaited.size > 0 ? 60_000 : 500), closed]);
        const m = await next.catch(() => undefined);
        if (m === undefined) break;
        const seq = Number(m.headers['seq']);
        deliveries.push({ seq, served, redelivered: m.headers['redelivered'] === 'true', afterAck: acknowledged.has(seq) });
        awaited.delete(seq);
        const receipt = `a-${served}-${seq}`;
        receipts.push(
          new Promise((resolve) =>
            client.client.watchForReceipt(receipt, () => {
              acknowledged.add(seq);
              resolve();
            }),
          ),
        );
        m.ack({ receipt });
      }
      await Promise.race([Promise.all(receipts), closed]);
      if (!dropped) {
        await client.disconnect();
        return { deliveries, last: broker };
      }
    } catch (err) {
      // it may have fenced itself before the consumer connected
      if (broker.child.exitCode === null && broker.logs.every((e) => e['event'] !== 'ha.fenced')) throw err;
    }
    assert.equal(await broker.exited, 3, 'a broker that drops its consumer has fenced itself');
    assert.ok(broker.logs.some((e) => e['event'] === 'ha.fenced'), 'it logged ha.fenced');
    if (served + 1 >= brokers) return { deliveries, last: broker };
  }
}

test('a backup killed with SIGKILL while it recovers the backlog loses nothing: the next one serves every confirmed message once, in order', { timeout: 300_000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-ha-backlog-'));
  paths.push(data);
  const config = join(data, '..', `${data.split('/').pop()!}.yaml`);
  // Every takeover here is from a broker whose process is gone from this machine, which a backup
  // sees at its next read of the lease whatever its duration. A lease of 1 s only made a broker that
  // the loaded machine held up for 800 ms fence itself, and a backup that saw the primary's renewals
  // late read the journal ahead and served before the test could kill it.
  writeFileSync(config, `ha:\n  leaseDuration: ${SERVING_LEASE_MS}\n`);
  paths.push(config);
  const primary = await member(data, config, 'broker.started');
  const backup = await member(data, config, 'ha.backup');
  const producer = await connectStomp(primary.ports['stomp']!);
  const queue = '/queue/ha.loading';
  const confirmed = await streamUntil(producer, queue, 512, (n) => n >= 50_000);
  await producer.disconnect();
  await primary.stop('SIGKILL');

  // killed as soon as it has the lease: it is reading the journal and rebuilding the queue; one that
  // got through before the kill landed is taken over from, and the broker that takes over is killed
  let taker = backup;
  for (let attempt = 1; ; attempt++) {
    await taker.logged('ha.primary');
    await taker.stop('SIGKILL');
    if (taker.logs.every((e) => e['event'] !== 'broker.started')) break;
    assert.ok(attempt < 3, 'killed before it served');
    taker = await member(data, config, 'ha.primary');
  }

  const { deliveries, last } = await consumeAcross(() => member(data, config, 'broker.started'), queue, confirmed);
  const present = new Set(deliveries.map((d) => d.seq));
  assert.deepEqual([...confirmed].filter((n) => !present.has(n)), [], 'every confirmed message is there');
  assert.deepEqual(deliveries.filter((d) => d.afterAck), [], 'nothing comes back once its acknowledgement was confirmed');
  const seen = new Map<number, Delivery>();
  const twice = deliveries.filter((d) => {
    const before = seen.get(d.seq);
    seen.set(d.seq, d);
    // a broker that fenced itself may have delivered it without writing its acknowledgement
    return before !== undefined && (before.served === d.served || !d.redelivered);
  });
  assert.deepEqual(twice, [], 'nothing twice, but what a broker that fenced itself handed out, flagged as redelivered');
  const unordered = deliveries.filter((d, i) => i > 0 && deliveries[i - 1]!.served === d.served && deliveries[i - 1]!.seq >= d.seq);
  assert.deepEqual(unordered, [], 'in the order sent');
  assert.equal(await last.stop(), 0);
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
