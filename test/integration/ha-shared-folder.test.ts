import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { after, test } from 'node:test';
import type { IMessage } from '@stomp/stompjs';
import mqtt from 'mqtt';
// below the ephemeral range: after a kill, a port 0 listener of another test could take the killed member's port
import { freePort, until } from '../helpers/network.js';
import { runFerry, spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { connectStomp } from '../helpers/stomp.js';
import { within } from '../helpers/raw-stomp.js';
import { drain, streamUntil } from '../helpers/stream.js';

/**
 * Primary and backup on one shared folder, as two real broker processes: the backup waits while the
 * primary renews its lease, takes over when the primary dies or stops renewing, and a primary that
 * was paused past its lease writes nothing more when it wakes up.
 */

// long enough that a broker starved of CPU on a loaded machine does not fence itself
const LEASE_MS = 4000;
const folders: string[] = [];
const processes: BrokerProcess[] = [];

after(async () => {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) await p.stop('SIGKILL');
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function sharedFolder(): { data: string; config: string } {
  const data = mkdtempSync(join(tmpdir(), 'ferry-ha-'));
  folders.push(data);
  const config = join(data, '..', `${data.split('/').pop()!}.yaml`);
  writeFileSync(config, `ha:\n  leaseDuration: ${LEASE_MS}\n`);
  folders.push(config);
  return { data, config };
}

async function haBroker(folder: { data: string; config: string }, readyEvent = 'broker.started', ports: { stomp?: number; mqtt?: number } = {}): Promise<BrokerProcess> {
  const broker = await spawnBroker(
    ['--data', folder.data, '--config', folder.config, '--ha', '--stomp-port', String(ports.stomp ?? 0), '--stomp-host', '127.0.0.1'],
    ports.mqtt === undefined ? {} : { FERRY_MQTT_PORT: String(ports.mqtt) },
    readyEvent,
  );
  processes.push(broker);
  return broker;
}

test('the backup waits and says so; when the primary is killed with SIGKILL it takes over: nothing receipted is lost, nothing comes back unflagged or twice', async () => {
  const folder = sharedFolder();
  const primary = await haBroker(folder);
  const backup = await haBroker(folder, 'ha.backup');
  const took = await primary.logged('ha.primary');
  assert.equal((await backup.logged('ha.backup'))['holder'], took['holder']);
  assert.equal(backup.ports['stomp'], undefined, 'a backup opens no client listener');
  const status = await backup.logged('ha.status-ready');
  const answer = await fetch(`http://127.0.0.1:${status['port'] as number}/api/stats`);
  assert.equal(answer.status, 503);
  assert.deepEqual(await answer.json(), { code: 'FERRY_HA_BACKUP', error: `this broker is a backup; the lease is held by ${took['holder'] as string}`, role: 'backup', holder: took['holder'], generation: 1 });

  const queue = '/queue/ha.orders';
  const producer = await connectStomp(primary.ports['stomp']!);
  const consumer = await connectStomp(primary.ports['stomp']!);
  // the consumer acknowledges (with receipts, to know which acknowledgements the primary took)
  const acknowledged = new Set<number>();
  const ackSent = new Set<number>();
  const seen = new Set<number>();
  const inbox = consumer.subscribe(queue, { ack: 'client-individual' });
  const consuming = (async () => {
    for (;;) {
      let m: IMessage;
      try {
        m = await inbox.next(30_000);
      } catch {
        return;
      }
      const seq = Number(m.headers['seq']);
      seen.add(seq);
      // every other message is acknowledged, so some wait unacknowledged in flight when the primary dies
      if (seq % 2 === 0) {
        ackSent.add(seq);
        consumer.client.watchForReceipt(`a-${seq}`, () => acknowledged.add(seq));
        m.ack({ receipt: `a-${seq}` });
      }
    }
  })();
  let killed: Promise<number | null> | undefined;
  const confirmed = await streamUntil(producer, queue, 64, (n) => {
    if (n >= 300 && killed === undefined) killed = primary.stop('SIGKILL');
    return killed !== undefined;
  });
  await killed;
  await consuming;
  assert.ok(confirmed.size >= 300);

  await backup.logged('broker.started');
  const client = await connectStomp(backup.ports['stomp']!);
  // what the consumer never acknowledged must come back; an acknowledgement sent but not yet
  // confirmed when the primary died may or may not have been written
  const outstanding = new Set([...confirmed].filter((n) => !ackSent.has(n)));
  const after = await drain(client, queue, outstanding);
  const afterSeqs = after.map((m) => Number(m.headers['seq']));
  assert.deepEqual([...outstanding].filter((n) => !afterSeqs.includes(n)), [], 'every receipted message not acknowledged is delivered by the backup');
  assert.deepEqual(afterSeqs.filter((n) => acknowledged.has(n)), [], 'an acknowledgement whose receipt came is never undone');
  // one sent but not confirmed may come back, and then only flagged, like any delivery the primary made
  const unflagged = after.filter((m) => seen.has(Number(m.headers['seq'])) && m.headers['redelivered'] !== 'true').map((m) => m.headers['seq']);
  assert.deepEqual(unflagged, [], 'what the primary had handed out comes back flagged as redelivered');
  assert.equal(new Set(afterSeqs).size, afterSeqs.length, 'nothing twice');
  await client.disconnect();
  await backup.stop();
});

test('a primary paused past its lease (SIGSTOP) finds the backup in charge when it wakes, stops without writing, and the folder stays consistent', async () => {
  const folder = sharedFolder();
  const primary = await haBroker(folder);
  const backup = await haBroker(folder, 'ha.backup');
  const queue = '/queue/ha.paused';
  // connected before the pause: what it sends then waits in the paused broker's socket
  const stale = await connectStomp(primary.ports['stomp']!);
  primary.child.kill('SIGSTOP');
  await backup.logged('broker.started');
  // the holder missed a renewal first: the backup read the journal ahead, and its takeover used that replay
  await backup.logged('ha.holder-overdue');
  await backup.logged('journal.read-ahead-used');
  const producer = await connectStomp(backup.ports['stomp']!);
  const confirmed = await streamUntil(producer, queue, 64, (n) => n >= 50);
  await producer.disconnect();

  let staleReceipt = false;
  stale.client.watchForReceipt('stale-1', () => (staleReceipt = true));
  stale.client.publish({ destination: queue, body: 'stale', headers: { persistent: 'true', seq: '9999', receipt: 'stale-1' } });
  primary.child.kill('SIGCONT');
  assert.equal(await primary.exited, 3, 'the old primary exits with code 3 when it finds it lost the lease');
  const fenced = await primary.logged('ha.fenced');
  assert.match(String(fenced['reason']), /renewed|taken by/);
  assert.equal(staleReceipt, false, 'the paused broker confirmed nothing after it woke');

  assert.equal(await backup.stop(), 0);
  // a plain broker on the folder: the journal opens without repair and holds exactly what the backup confirmed
  const after = await spawnBroker(['--data', folder.data, '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  processes.push(after);
  const client = await connectStomp(after.ports['stomp']!);
  const got = (await drain(client, queue, confirmed)).map((m) => Number(m.headers['seq']));
  assert.deepEqual([...confirmed].filter((n) => !got.includes(n)), [], 'everything the backup confirmed is there');
  // the producer may have sent a few more than it waited for; the paused broker's message is not there
  assert.ok(!got.includes(9999), 'the message sent to the paused broker was never written');
  assert.equal(new Set(got).size, got.length);
  await client.disconnect();
  await after.stop();
});

test('a primary paused past its lease hands out nothing when it wakes: its consumer gets no message after the pause and is dropped, and the backup redelivers flagged what went out', async () => {
  const folder = sharedFolder();
  const primary = await haBroker(folder);
  const backup = await haBroker(folder, 'ha.backup');
  const queue = '/queue/ha.woken';
  const producer = await connectStomp(primary.ports['stomp']!);
  const confirmed = await streamUntil(producer, queue, 64, (n) => n >= 100);
  await producer.disconnect();

  const beforePause: IMessage[] = [];
  const afterWake: IMessage[] = [];
  let woken = false;
  const received = (into: IMessage[], count: number): { push(m: IMessage): void; all: Promise<void> } => {
    let done!: () => void;
    const all = new Promise<void>((resolve) => (done = resolve));
    return { push: (m) => (into.push(m), into.length === count && done()), all };
  };
  // one consumer takes 1-10 and leaves during the pause: woken, the primary would hand them to the other
  const leaver = await connectStomp(primary.ports['stomp']!);
  const leaverGot: IMessage[] = [];
  const leaverFull = received(leaverGot, 10);
  leaver.client.subscribe(queue, (m) => leaverFull.push(m), { ack: 'client-individual', 'activemq.prefetchSize': '10' });
  await within(30_000, 'the leaving consumer gets its prefetch', leaverFull.all);
  const consumer = await connectStomp(primary.ports['stomp']!);
  const rest = received(beforePause, 90);
  consumer.client.subscribe(queue, (m) => (woken ? afterWake.push(m) : rest.push(m)), { ack: 'client-individual', 'activemq.prefetchSize': '1000' });
  await within(30_000, 'the other consumer gets the rest', rest.all);
  // a second consumer with room, on a queue with nothing waiting: anything it gets comes after the pause
  const live = `${queue}.live`;
  const waiting = await connectStomp(primary.ports['stomp']!);
  waiting.client.subscribe(live, (m) => afterWake.push(m), { ack: 'client-individual', receipt: 'subscribed' });
  await within(30_000, 'the second subscription is in place', new Promise((resolve) => waiting.client.watchForReceipt('subscribed', resolve)));
  const late = await connectStomp(primary.ports['stomp']!);
  primary.child.kill('SIGSTOP');
  // the backup waited out a whole lease: whatever the primary wrote before the pause has arrived
  await backup.logged('broker.started');
  // its end of the connection goes now; the paused broker sees it when it wakes
  leaver.client.forceDisconnect();
  // and sends: taken, they would go out from memory (a non-persistent one touches no disk that could refuse it)
  let lateReceipts = 0;
  for (let n = 1001; n <= 1010; n++) {
    late.client.watchForReceipt(`late-${n}`, () => lateReceipts++);
    late.client.publish({ destination: live, body: `m${n}`, headers: { persistent: n % 2 === 0 ? 'true' : 'false', seq: String(n), receipt: `late-${n}` } });
  }
  woken = true;
  primary.child.kill('SIGCONT');
  await within(30_000, 'the woken primary drops its clients\' connections', Promise.all([consumer.closed, waiting.closed, late.closed]));
  assert.equal(await primary.exited, 3, 'the old primary exits with code 3 when it finds it lost the lease');
  assert.deepEqual(afterWake.map((m) => m.headers['seq']), [], 'the woken primary, no longer holding the lease, delivered nothing');
  assert.equal(lateReceipts, 0, 'nor confirmed a send');

  const client = await connectStomp(backup.ports['stomp']!);
  const got = await drain(client, queue, confirmed);
  const seqs = got.map((m) => Number(m.headers['seq']));
  assert.deepEqual([...confirmed].filter((n) => !seqs.includes(n)), [], 'nothing acknowledged, nothing lost: every message is on the backup');
  assert.equal(new Set(seqs).size, seqs.length, 'nothing twice from the backup');
  const handedOut = new Set([...leaverGot, ...beforePause, ...afterWake].map((m) => Number(m.headers['seq'])));
  const unflagged = got.filter((m) => handedOut.has(Number(m.headers['seq'])) && m.headers['redelivered'] !== 'true').map((m) => m.headers['seq']);
  assert.deepEqual(unflagged, [], 'what the old primary handed out comes back flagged as redelivered');
  await client.disconnect();
  assert.equal(await backup.stop(), 0);
});

test('a primary whose renewals fail and whose journal write finds the lease too old stops serving and exits; the backup has everything it confirmed', { timeout: 120_000 }, async () => {
  const folder = sharedFolder();
  const primary = await haBroker(folder);
  const backup = await haBroker(folder, 'ha.backup');
  const holder = String((await primary.logged('ha.primary'))['holder']);
  const queue = '/queue/ha.unrenewed';
  const producer = await connectStomp(primary.ports['stomp']!);
  let blocked = false;
  // a folder in the way of its own temporary lease file fails only this broker's renewals (EISDIR)
  const confirmed = await streamUntil(producer, queue, 64, (n) => {
    if (n >= 100 && !blocked) {
      mkdirSync(join(folder.data, `ha-lease.${holder.replaceAll('/', '_')}.tmp`));
      blocked = true;
    }
    return backup.logs.some((l) => l['event'] === 'ha.primary');
  });
  assert.equal(await within(30_000, 'the fenced primary exits', primary.exited), 3);
  assert.match(String((await primary.logged('ha.fenced'))['reason']), /renewed \d+ ms ago/);
  await producer.disconnect().catch(() => undefined);

  await backup.logged('broker.started');
  const client = await connectStomp(backup.ports['stomp']!);
  const got = (await drain(client, queue, confirmed)).map((m) => Number(m.headers['seq']));
  assert.deepEqual([...confirmed].filter((n) => !got.includes(n)), [], 'everything the fenced primary confirmed is on the backup');
  assert.equal(new Set(got).size, got.length);
  await client.disconnect();
  assert.equal(await backup.stop(), 0);
});

test('a backup started with a shorter ha.leaseDuration than the primary\'s waits out the primary\'s: it takes over only when the primary dies, with everything the primary confirmed', { timeout: 120_000 }, async () => {
  const folder = sharedFolder();
  const shortLease = `${folder.config}.short.yaml`;
  writeFileSync(shortLease, `ha:\n  leaseDuration: ${LEASE_MS}\n`);
  writeFileSync(folder.config, `ha:\n  leaseDuration: ${LEASE_MS * 4}\n`);
  folders.push(shortLease);
  const primary = await haBroker(folder);
  const backup = await haBroker({ data: folder.data, config: shortLease }, 'ha.backup');
  const counter = (): number => (JSON.parse(readFileSync(join(folder.data, 'ha-lease'), 'utf8')) as { counter: number }).counter;
  const watched = counter();
  const queue = '/queue/ha.durations';
  const producer = await connectStomp(primary.ports['stomp']!);
  // confirmed sends across two of the primary's renewals, each longer than the backup's whole lease;
  // a small window keeps the backlog one that the backup recovers well within its own lease
  const confirmed = await streamUntil(producer, queue, 4, () => counter() >= watched + 2 || backup.logs.some((l) => l['event'] === 'ha.primary'));
  assert.equal(backup.logs.find((l) => l['event'] === 'ha.primary'), undefined, 'the backup did not take the lease of a renewing primary');
  assert.equal((await backup.logged('ha.lease-duration-differs'))['holderLeaseDuration'], LEASE_MS * 4);
  await producer.disconnect();
  await primary.stop('SIGKILL');
  assert.match(String((await backup.logged('ha.primary'))['reason']), /no longer running/);
  await backup.logged('broker.started');
  const client = await connectStomp(backup.ports['stomp']!);
  const got = (await drain(client, queue, confirmed)).map((m) => Number(m.headers['seq']));
  assert.deepEqual([...confirmed].filter((n) => !got.includes(n)), [], 'everything the primary confirmed is on the backup');
  await client.disconnect();
  assert.equal(await backup.stop(), 0);
});

test('the lease file deleted under a primary at generation 3: the primary stops at its next renewal, the backup waits out the lease and takes generation 4 with everything confirmed', { timeout: 180_000 }, async () => {
  const folder = sharedFolder();
  // two takeovers first: the claims of generations 2 and 3 are on the folder
  let primary = await haBroker(folder);
  let backup = await haBroker(folder, 'ha.backup');
  await primary.stop('SIGKILL');
  await backup.logged('broker.started');
  [primary, backup] = [backup, await haBroker(folder, 'ha.backup')];
  await primary.stop('SIGKILL');
  assert.equal((await backup.logged('ha.primary'))['generation'], 3);
  await backup.logged('broker.started');
  [primary, backup] = [backup, await haBroker(folder, 'ha.backup')];

  const queue = '/queue/ha.unleased';
  const producer = await connectStomp(primary.ports['stomp']!);
  let deleted = false;
  const confirmed = await streamUntil(producer, queue, 64, (n) => {
    if (n >= 100 && !deleted) {
      unlinkSync(join(folder.data, 'ha-lease'));
      deleted = true;
    }
    return backup.logs.some((l) => l['event'] === 'ha.primary');
  });
  assert.equal(await within(30_000, 'the primary exits', primary.exited), 3);
  assert.match(String((await primary.logged('ha.fenced'))['reason']), /lease file is gone/);
  // the backup may look at the folder only after the primary has gone
  await until('the backup to say it waits for a missing lease', () => backup.logs.some((l) => l['event'] === 'ha.backup' && l['holder'] === undefined && l['generation'] === 3), 30_000);
  const took = await backup.logged('ha.primary');
  assert.equal(took['generation'], 4);
  assert.match(String(took['reason']), /missing/);
  await backup.logged('broker.started');
  const client = await connectStomp(backup.ports['stomp']!);
  const got = (await drain(client, queue, confirmed)).map((m) => Number(m.headers['seq']));
  assert.deepEqual([...confirmed].filter((n) => !got.includes(n)), [], 'everything the old primary confirmed is on the new one');
  await client.disconnect();
  assert.equal(await backup.stop(), 0);
});

/** `chattr +i` on a folder (no file created, renamed or deleted in it), where the file system and the user allow it. */
function immutable(folder: string, on: boolean): boolean {
  try {
    execFileSync('chattr', [on ? '+i' : '-i', folder], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('a backup that cannot claim the lease on a folder that refuses new files keeps trying, and takes over once it can', { timeout: 120_000 }, async (t) => {
  const folder = sharedFolder();
  const primary = await haBroker(folder);
  const backup = await haBroker(folder, 'ha.backup');
  const queue = '/queue/ha.refused';
  const producer = await connectStomp(primary.ports['stomp']!);
  const confirmed = await streamUntil(producer, queue, 64, (n) => n >= 100);
  await producer.disconnect();
  if (!immutable(folder.data, true)) return t.skip('chattr +i is not possible here');
  try {
    await primary.stop('SIGKILL');
    assert.equal((await backup.logged('ha.acquire-failed'))['event'], 'ha.acquire-failed');
    assert.equal(backup.child.exitCode, null, 'the backup is still there');
  } finally {
    immutable(folder.data, false);
  }
  assert.match(String((await backup.logged('ha.primary'))['reason']), /no longer running/);
  await backup.logged('broker.started');
  const client = await connectStomp(backup.ports['stomp']!);
  const got = (await drain(client, queue, confirmed)).map((m) => Number(m.headers['seq']));
  assert.deepEqual([...confirmed].filter((n) => !got.includes(n)), []);
  await client.disconnect();
  assert.equal(await backup.stop(), 0);
});

test('a backup whose status port another program holds stops with the line a primary gives, naming the setting, not a stack trace', async () => {
  const folder = sharedFolder();
  const primary = await haBroker(folder);
  const taken = primary.ports['http']!;
  const backup = await runFerry(['start', '--data', folder.data, '--config', folder.config, '--ha', '--stomp-port', '0', '--stomp-host', '127.0.0.1', '--http-port', String(taken), '--http-host', '127.0.0.1'], {
    env: { FERRY_AMQP_PORT: '0', FERRY_MQTT_PORT: '0', FERRY_OPENWIRE_PORT: '0', FERRY_WS_PORT: '0' },
    timeoutMs: 30_000,
  });
  assert.equal(backup.code, 1, backup.stderr);
  assert.match(backup.stderr, new RegExp(`listeners\\.http\\.port \\(--http-port\\): port ${taken} on 127\\.0\\.0\\.1 is in use by another program`));
  assert.doesNotMatch(backup.stderr, /\bat \w+.*\(node:|setupListenHandle/);
  assert.equal(await primary.stop(), 0);
});

test('a primary that stops cleanly releases the lease: the backup takes over without waiting out the lease', async () => {
  const folder = sharedFolder();
  const primary = await haBroker(folder);
  const backup = await haBroker(folder, 'ha.backup');
  assert.equal(await primary.stop(), 0);
  assert.ok(primary.logs.some((l) => l['event'] === 'ha.released'));
  const took = await backup.logged('ha.primary');
  assert.match(String(took['reason']), /released it/);
  await backup.logged('broker.started');
  assert.equal(await backup.stop(), 0);
});

test('an MQTT client with both brokers in its list reconnects to the new primary and finds its persistent session, its queued message and the retained one', async () => {
  const folder = sharedFolder();
  const ports = [await freePort(), await freePort()];
  const primary = await haBroker(folder, 'broker.started', { mqtt: ports[0]! });
  const backup = await haBroker(folder, 'ha.backup', { mqtt: ports[1]! });

  // a persistent session with a QoS 1 subscription, then offline
  const first = await connectMqtt(ports[0]!, { clientId: 'ha-device', clean: false });
  await first.subscribe('ha/orders/+', { qos: 1 });
  await first.end();
  const publisher = await connectMqtt(ports[0]!, { clientId: 'ha-publisher' });
  await publisher.publish('ha/state', 'open', { qos: 1, retain: true });
  await publisher.publish('ha/orders/1', 'queued while offline', { qos: 1 });
  await publisher.end();
  await primary.stop('SIGKILL');

  // the device knows both brokers and starts with the dead one, as it would after the failure
  const device = mqtt.connect({ servers: ports.map((port) => ({ host: '127.0.0.1', port })), clientId: 'ha-device', clean: false, reconnectPeriod: 100, connectTimeout: 2000 });
  const queued = new Promise<string>((resolve) => device.once('message', (_topic, payload) => resolve(payload.toString())));
  const connack = await new Promise<mqtt.IConnackPacket>((resolve) => device.once('connect', resolve));
  assert.equal(connack.sessionPresent, true, 'the new primary has the device\'s session');
  assert.equal(await queued, 'queued while offline');
  await backup.logged('broker.started');

  const late = await connectMqtt(ports[1]!, { clientId: 'ha-late' });
  await late.subscribe('ha/state', { qos: 1 });
  assert.equal((await late.inbox.next(10_000)).payload, 'open', 'the retained message survived the takeover');
  await late.end();
  await new Promise<void>((resolve) => device.end(false, {}, () => resolve()));
  await backup.stop();
});

test('the management API and /metrics say which broker is the primary and how old its lease is; a broker without --ha says it is standalone', async () => {
  type Overview = { ha: { role: string; leaseAgeSeconds: number | null } };
  const overview = async (broker: BrokerProcess): Promise<Overview> => (await (await fetch(`http://127.0.0.1:${broker.ports['http']!}/api/v1/broker`)).json()) as Overview;
  const metrics = async (broker: BrokerProcess): Promise<string> => (await fetch(`http://127.0.0.1:${broker.ports['http']!}/metrics`)).text();
  const leaseAge = (text: string): number | undefined => {
    const line = /^ferry_ha_lease_age_seconds (\S+)$/m.exec(text);
    return line === null ? undefined : Number(line[1]);
  };

  const folder = sharedFolder();
  const primary = await haBroker(folder);
  const backup = await haBroker(folder, 'ha.backup');
  const first = await overview(primary);
  assert.equal(first.ha.role, 'primary');
  assert.equal(typeof first.ha.leaseAgeSeconds, 'number');
  assert.ok(first.ha.leaseAgeSeconds! >= 0, String(first.ha.leaseAgeSeconds));
  const scraped = await metrics(primary);
  assert.match(scraped, /^ferry_ha_primary 1$/m);
  assert.ok(leaseAge(scraped) !== undefined && leaseAge(scraped)! >= 0, scraped);
  // the age goes back down at each renewal: it is the lease's, not the time since the broker started
  let last = leaseAge(scraped)!;
  await until('a renewal seen in the lease age', async () => {
    const age = leaseAge(await metrics(primary))!;
    const renewed = age < last;
    last = age;
    return renewed;
  }, 30_000);
  const status = await backup.logged('ha.status-ready');
  const waiting = await fetch(`http://127.0.0.1:${status['port'] as number}/api/v1/broker`);
  assert.equal(waiting.status, 503);
  assert.equal(((await waiting.json()) as { role: string }).role, 'backup');

  await primary.stop('SIGKILL');
  await backup.logged('broker.started');
  await until('the backup\'s management API', () => backup.ports['http'] !== undefined);
  assert.equal((await overview(backup)).ha.role, 'primary');
  assert.match(await metrics(backup), /^ferry_ha_primary 1$/m);
  assert.equal(await backup.stop(), 0);

  const alone = await spawnBroker(['--data', mkdtempSync(join(tmpdir(), 'ferry-alone-')), '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  processes.push(alone);
  assert.deepEqual((await overview(alone)).ha, { role: 'standalone', leaseAgeSeconds: null });
  const standalone = await metrics(alone);
  assert.match(standalone, /^ferry_ha_primary 0$/m);
  assert.equal(leaseAge(standalone), 0, 'no lease, no lease age');
  assert.equal(await alone.stop(), 0);
});
