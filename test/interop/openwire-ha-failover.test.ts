// ActiveMQ's JMS client with failover:(tcp://a,tcp://b) across a Ferry HA pair on one shared folder:
// the primary is killed with SIGKILL while the client produces, and again (the other broker by
// then) while it consumes; the client moves to the broker that took over each time.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { eventLine, openwireJavaMissing, spawnDriver, type DriverResult } from '../helpers/openwire-java.js';
import { freePort } from '../helpers/network.js';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';

const skip = openwireJavaMissing();
// long enough that a broker starved of CPU on a loaded machine does not fence itself
const LEASE_MS = 4000;
const paths: string[] = [];
const processes: BrokerProcess[] = [];

after(async () => {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) await p.stop('SIGKILL');
  for (const path of paths) rmSync(path, { recursive: true, force: true });
});

/** An HA member on fixed ports: a backup opens its listeners only when it takes over, where the client's URL already points. */
async function member(data: string, config: string, openwirePort: number, readyEvent: string): Promise<BrokerProcess> {
  const broker = await spawnBroker(['--data', data, '--config', config, '--ha', '--stomp-port', '0', '--stomp-host', '127.0.0.1'], { FERRY_OPENWIRE_PORT: String(openwirePort), FERRY_OPENWIRE_HOST: '127.0.0.1' }, readyEvent);
  processes.push(broker);
  return broker;
}

// In full runs the consumer twice stalled after the second takeover: about 300 of 1,000 received,
// then nothing for 120 s. The first time, the new primary refused the client's acknowledgement of a
// message the killed one had delivered; such an acknowledgement is now let go. The second time, the
// consumer met 702 waiting messages on the new primary and was sent none. The likely cause: a client
// that reconnects before it has cleared the deliveries it had in hand restores its consumers at
// prefetch 0 and gives them their prefetch back with a ConsumerControl, which Ferry answered and
// ignored; it now applies it. Both fixes have their wire-level test in
// test/integration/openwire-wire.test.ts. Since the second fix this test has passed 23 runs of 23
// (14 of them beside an integration run), but in the 7 whose commands were logged the client
// restored its consumers at full prefetch every time: those runs do not show that the ignored
// ConsumerControl was the cause. A stall fails the suite, with the brokers' logs.
test('failover:(a,b) across an HA pair: kill -9 of the primary mid-produce and mid-consume; every message sent is received, none twice', { skip: skip ?? false, timeout: 600_000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-ow-ha-'));
  paths.push(data);
  const config = join(data, '..', `${data.split('/').pop()!}.yaml`);
  writeFileSync(config, `ha:\n  leaseDuration: ${LEASE_MS}\n`);
  paths.push(config);
  // below the ephemeral range: a killed member's port is free until its successor binds it, and a
  // port the kernel hands out for port 0 could go to another test's broker meanwhile, which the
  // failover client would then take for this pair
  const ports = [await freePort(), await freePort()] as const;
  const members: BrokerProcess[] = [await member(data, config, ports[0], 'broker.started'), await member(data, config, ports[1], 'ha.backup')];
  let primary = 0;
  const url = `failover:(tcp://127.0.0.1:${ports[0]},tcp://127.0.0.1:${ports[1]})?initialReconnectDelay=100&maxReconnectDelay=1000`;

  /** Runs the driver; past `killAt`, kills the primary, waits for the backup to take over and starts the killed one again as the backup. */
  const withTakeover = async (command: string, field: string, killAt: number): Promise<{ result: DriverResult; afterTakeover: number }> => {
    let takeover: Promise<void> | undefined;
    let tookOver = false;
    let afterTakeover = 0;
    const running = spawnDriver(command, url, { queue: 'interop.ha.failover', count: 1000, progress: 50, rate: 200, timeout: 120_000 }, 180_000, (line) => {
      if (line['event'] !== 'progress') return;
      if (tookOver) afterTakeover++;
      if (takeover === undefined && (line[field] as number) >= killAt) {
        takeover = (async () => {
          const killed = primary;
          await members[killed]!.stop('SIGKILL');
          primary = 1 - killed;
          await members[primary]!.logged('broker.started');
          tookOver = true;
          members[killed] = await member(data, config, ports[killed]!, 'ha.backup');
        })();
      }
    });
    const result = await running.done;
    await takeover;
    assert.ok(takeover !== undefined, `${command} finished before the primary could be killed`);
    if (result.code !== 0) throw new Error(`${command} failed:\n${result.lines.map((l) => JSON.stringify(l)).join('\n')}\n${result.stderr}`);
    return { result, afterTakeover };
  };

  try {
    await produceAndConsume(withTakeover);
  } catch (err) {
    // what each broker incarnation logged is what tells a stall in takeover from one in the client
    const logs = processes.map((p, i) => `--- broker process ${i} (pid ${p.child.pid}, exit ${p.child.exitCode ?? p.child.signalCode}):\n${p.logs.slice(-60).map((l) => JSON.stringify(l)).join('\n')}\n${p.stderr()}`);
    throw new Error(`${(err as Error).message}\n${logs.join('\n')}`, { cause: err });
  }
  for (const m of members) await m.stop();
});

async function produceAndConsume(withTakeover: (command: string, field: string, killAt: number) => Promise<{ result: DriverResult; afterTakeover: number }>): Promise<void> {
  const produced = await withTakeover('failover-produce', 'sent', 300);
  assert.equal(eventLine(produced.result, 'produced')['sent'], 1000);
  assert.ok(produced.afterTakeover > 0, 'the producer carried on with the broker that took over');
  const consumed = await withTakeover('failover-consume', 'received', 300);
  assert.ok(consumed.afterTakeover > 0, 'the consumer carried on with the broker that took over');
  const summary = eventLine(consumed.result, 'consumed');
  assert.deepEqual({ distinct: summary['distinct'], duplicates: summary['duplicates'], outOfRange: summary['outOfRange'] }, { distinct: 1000, duplicates: [], outOfRange: 0 });
}
