import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { descriptorLimits } from '../../src/transport/index.js';
import { spawnBroker } from '../helpers/process.js';
import { connectStomp } from '../helpers/stomp.js';

/**
 * Open files: the broker runs at its hard limit, and keeps a reserve of
 * descriptors its clients cannot take, so a flood of connections never stops the journal opening
 * its next segment. Brokers here run under util-linux's `prlimit`, which sets the limits a shell's
 * `ulimit -n` would.
 */

test('the broker runs at its hard open-file limit (Node raises the soft one as it starts) and logs it; a low one is warned of', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-fd-'));
  const broker = await spawnBroker(['--data', join(dir, 'data'), '--stomp-port', '0', '--stomp-host', '127.0.0.1'], {}, 'broker.started', ['prlimit', '--nofile=512:1024']);
  t.after(async () => {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  assert.deepEqual(descriptorLimits(broker.child.pid!), { soft: 1024, hard: 1024 });
  const logged = await broker.logged('descriptors.limit');
  assert.equal(logged['soft'], 1024);
  assert.equal(logged['level'], 40, 'a limit under 4,096 is a warning');
});

/** Opens `count` raw connections; each settles as held (still open after the broker had its say) or refused (closed at once). */
async function flood(port: number, count: number): Promise<{ held: Socket[]; refused: number }> {
  const outcomes = await Promise.all(
    Array.from({ length: count }, () => new Promise<Socket | undefined>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      // a refused socket is closed by the broker before any protocol speaks; a held one hears its
      // CONNECTED once it asks
      socket.once('close', () => resolve(undefined));
      socket.once('connect', () => socket.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0'));
      socket.once('data', () => resolve(socket));
    })),
  );
  return { held: outcomes.filter((s): s is Socket => s !== undefined), refused: outcomes.filter((s) => s === undefined).length };
}

test('a connection flood near the open-file limit is refused past the reserve; the journal still opens new segments and everyone else carries on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-fd-'));
  const data = join(dir, 'data');
  const config = join(dir, 'ferry.yaml');
  writeFileSync(config, 'transport:\n  descriptorReserve: 64\nstore:\n  journal:\n    segmentSize: 65536\n');
  const broker = await spawnBroker(
    ['--data', data, '--config', config, '--stomp-port', '0', '--stomp-host', '127.0.0.1'],
    {},
    'broker.started',
    ['prlimit', '--nofile=300:300'],
  );
  t.after(async () => {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const port = broker.ports['stomp']!;
  const producer = await connectStomp(port);
  const consumer = await connectStomp(port);

  const { held, refused } = await flood(port, 300);
  t.after(() => held.forEach((s) => s.destroy()));
  assert.ok(refused > 0, 'connections past the budget were refused');
  assert.ok(held.length > 100, `most of the flood was served (${held.length})`);
  await broker.logged('listener.descriptors-reserved');

  // 200 KiB of persistent messages: the journal rolls through several 64 KiB segments meanwhile
  // segment files are numbered in order, and emptied ones may already be gone: the newest tells
  const newestSegment = (): string => readdirSync(join(data, 'journal')).filter((f) => f.endsWith('.jnl')).sort().at(-1) ?? '';
  const newestBefore = newestSegment();
  const body = 'x'.repeat(1024);
  // no consumer yet: segments a consumer has emptied may be deleted at once, and the segment rolled
  // to is made only at its first write, so with one the newest file left could be the first
  for (let i = 0; i < 200; i++) await producer.sendConfirmed('/queue/fd.flood', body, { persistent: 'true' });
  const inbox = consumer.subscribe('/queue/fd.flood');
  for (let i = 0; i < 200; i++) assert.equal((await inbox.next()).body.length, 1024);
  assert.ok(newestSegment() > newestBefore, `the journal opened a new segment during the flood (newest ${newestBefore} before, ${newestSegment()} after)`);
  assert.ok(!broker.logs.some((l) => Number(l['level']) >= 50), 'nothing logged at error level');

  // room again once the flood goes
  held.forEach((s) => s.destroy());
  await broker.logged('listener.descriptors-available');
  const late = await connectStomp(port);
  await late.sendConfirmed('/queue/fd.flood', 'after');
  await late.disconnect();
  await producer.disconnect();
  await consumer.disconnect();
});
