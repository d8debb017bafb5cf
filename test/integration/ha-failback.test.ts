import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { connectStomp } from '../helpers/stomp.js';
import { drain, streamUntil } from '../helpers/stream.js';

/**
 * ha.failback with two broker processes on one shared folder: the preferred primary, restarted
 * after a takeover, asks for the lease back; the holder stops taking messages, finishes writing,
 * releases the lease to it and waits as the backup. Nothing the holder confirmed is lost.
 */

// long enough that a broker starved of CPU on a loaded machine does not fence itself
const LEASE_MS = 4000;
const paths: string[] = [];
const processes: BrokerProcess[] = [];

after(async () => {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) await p.stop('SIGKILL');
  for (const path of paths) rmSync(path, { recursive: true, force: true });
});

function config(data: string, name: string, text: string): string {
  const path = join(data, '..', `${data.split('/').pop()!}-${name}.yaml`);
  writeFileSync(path, text);
  paths.push(path);
  return path;
}

async function haBroker(data: string, configFile: string, readyEvent = 'broker.started'): Promise<BrokerProcess> {
  const broker = await spawnBroker(['--data', data, '--config', configFile, '--ha', '--stomp-port', '0', '--stomp-host', '127.0.0.1'], {}, readyEvent);
  processes.push(broker);
  return broker;
}

/** The n-th log line with this event, as it comes, or a failure saying what the broker did instead. */
function nth(p: BrokerProcess, event: string, n: number, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      p.child.stdout!.off('data', later);
      const last = p.logs.slice(-6).map((e) => `${String(e['event'])}: ${String(e['msg'])}`).join(' | ');
      reject(new Error(`no log line "${event}" number ${n} within ${timeoutMs} ms; exit code ${String(p.child.exitCode ?? p.child.signalCode)}; its last log lines: ${last}`));
    }, timeoutMs);
    const check = (): void => {
      const hits = p.logs.filter((e) => e['event'] === event);
      if (hits.length < n) return;
      clearTimeout(timer);
      p.child.stdout!.off('data', later);
      resolve(hits[n - 1]!);
    };
    // the helper's line reader sees each chunk first: look once it has
    const later = (): void => void setImmediate(check);
    p.child.stdout!.on('data', later);
    check();
  });
}

test('with ha.failback the restarted primary gets the lease back: the holder hands it over cleanly under a producer and becomes the backup; nothing confirmed is lost or doubled', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-failback-'));
  paths.push(data);
  const preferred = config(data, 'preferred', `ha:\n  leaseDuration: ${LEASE_MS}\n  failback: true\n`);
  const other = config(data, 'other', `ha:\n  leaseDuration: ${LEASE_MS}\n`);

  let primary = await haBroker(data, preferred);
  const backup = await haBroker(data, other, 'ha.backup');
  const before = await connectStomp(primary.ports['stomp']!);
  const first = await streamUntil(before, '/queue/failback.before', 32, (n) => n >= 100);
  await primary.stop('SIGKILL');
  await backup.logged('broker.started');

  // the backup serves now; a producer keeps sending to it while the preferred primary comes back
  const producer = await connectStomp(backup.ports['stomp']!);
  let restarted: Promise<BrokerProcess> | undefined;
  const second = await streamUntil(producer, '/queue/failback.during', 32, (n) => {
    if (n >= 100 && restarted === undefined) restarted = haBroker(data, preferred, 'ha.backup');
    // sends go on until the holder closes the connection to hand over
    return false;
  });
  primary = await restarted!;
  assert.ok(second.size >= 100);

  const asked = await primary.logged('ha.failback-requested');
  const handing = await backup.logged('ha.handback');
  const released = await backup.logged('ha.released');
  await primary.logged('broker.started');
  const took = await primary.logged('ha.primary');
  assert.equal(asked['holder'], (await backup.logged('ha.primary'))['holder'], 'the preferred primary asked the holder');
  assert.equal(handing['to'], took['holder']);
  assert.equal(released['to'], took['holder'], 'the lease was released to the broker that asked');
  assert.match(String(took['reason']), /released it to this broker/);
  assert.equal(took['generation'], 3);

  // the old holder waits as the backup again, alive
  const handedBack = await backup.logged('ha.handed-back');
  assert.equal(handedBack['to'], took['holder']);
  const waiting = await nth(backup, 'ha.backup', 2);
  assert.equal(waiting['holder'], took['holder']);
  assert.equal(backup.child.exitCode, null);

  const client = await connectStomp(primary.ports['stomp']!);
  for (const [queue, confirmed] of [['/queue/failback.before', first], ['/queue/failback.during', second]] as const) {
    const got = (await drain(client, queue, confirmed)).map((m) => Number(m.headers['seq']));
    assert.deepEqual([...confirmed].filter((n) => !got.includes(n)), [], `everything confirmed on ${queue} is there`);
    assert.equal(new Set(got).size, got.length, `nothing twice on ${queue}`);
    assert.deepEqual(got, [...got].sort((a, b) => a - b), `in order on ${queue}`);
  }
  await client.disconnect();

  // a clean stop of the preferred primary hands the lease to the waiting backup, as without failback
  assert.equal(await primary.stop(), 0);
  await nth(backup, 'broker.started', 2);
  assert.equal(await backup.stop(), 0);
});
