import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { ferryBin, runFerry, spawnBroker } from '../helpers/process.js';

// A signal that reaches `ferry start` while it loads its modules or opens its store stops the start
// with a log line and the normal stop's exit status, not by Node's default action (a silent death).

const listeners = ['--stomp-port', '0', '--stomp-host', '127.0.0.1', '--amqp-port', 'off', '--mqtt-port', 'off', '--openwire-port', 'off', '--ws-port', 'off', '--http-port', 'off'];

/** A data folder holding `count` persistent messages, each confirmed by a receipt. */
async function folderWithMessages(count: number): Promise<string> {
  const data = join(mkdtempSync(join(tmpdir(), 'ferry-start-signal-')), 'data');
  const broker = await spawnBroker(['--data', data, ...listeners]);
  const sent = await runFerry(['send', '--port', String(broker.ports['stomp']), '-d', 'start.signal', '--body', 'm{n}', '-n', String(count), '--persistent']);
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal(await broker.stop('SIGTERM'), 0);
  return data;
}

/**
 * `ferry start` held (FERRY_TEST_HOLD_START_UNTIL_SIGNAL) right after its first module put its
 * handlers in, before the broker's modules load: the signals go in then, with no race against
 * Node's own start-up.
 */
async function signalDuringStart(data: string, signals: readonly NodeJS.Signals[]): Promise<{ code: number | null; logs: Record<string, unknown>[]; stderr: string }> {
  const child = spawn(process.execPath, [ferryBin, 'start', '--data', data, ...listeners], {
    env: { ...process.env, FERRY_TEST_HOLD_START_UNTIL_SIGNAL: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  // a start that was never held (a Ferry without the hook) gets its signals once it runs, and the assertions say so
  const held = new Promise<void>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(JSON.parse(line) as Record<string, unknown>);
      if (logs.at(-1)!['event'] === 'broker.started') resolve();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('start held until a signal')) resolve();
    });
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // the pipe's last lines may come after the exit event
  const drained = new Promise((resolve) => child.stdout!.once('close', resolve));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  await Promise.race([held, exited]);
  for (const signal of signals) child.kill(signal);
  const code = await exited;
  clearTimeout(timer);
  await drained;
  return { code, logs, stderr };
}

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  test(`${signal} while ferry start loads stops the start with a log line and exit status 0; the data folder opens afterwards with every message`, async () => {
    const data = await folderWithMessages(20);
    const { code, logs, stderr } = await signalDuringStart(data, [signal]);
    const events = logs.map((l) => l['event']);
    assert.equal(code, 0, `exit status of a normal stop; stderr: ${stderr}`);
    assert.ok(logs.some((l) => l['event'] === 'broker.stop-requested' && l['signal'] === signal), `the signal is logged: ${events.join(', ')}`);
    assert.ok(logs.some((l) => l['event'] === 'broker.stopped' && l['during'] === 'start' && l['signal'] === signal), `a line says it stopped during start: ${events.join(', ')}`);
    assert.equal(events.includes('listener.ready'), false, 'no listener opened');
    assert.equal(events.includes('broker.started'), false);
    assert.equal(readdirSync(data).includes('lock'), false, 'the data folder is released');

    const again = await spawnBroker(['--data', data, ...listeners]);
    const received = await runFerry(['receive', '--port', String(again.ports['stomp']), '-d', 'start.signal', '-n', '20']);
    assert.equal(received.code, 0, received.stderr);
    assert.deepEqual(received.stdout.split('\n').filter((l) => l !== ''), Array.from({ length: 20 }, (_, i) => `m${i + 1}`));
    assert.equal(await again.stop('SIGTERM'), 0);
  });
}

test('with log.file, a SIGHUP while ferry start loads does not stop it: the file it opens after the signal is already the new one', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-start-signal-'));
  const child = spawn(process.execPath, [ferryBin, 'start', '--data', join(dir, 'data'), '--log-file', join(dir, 'ferry.log'), ...listeners], {
    env: { ...process.env, FERRY_TEST_HOLD_START_UNTIL_SIGNAL: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve) =>
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('start held until a signal')) resolve();
    }),
  );
  child.kill('SIGHUP');
  // the start goes on: the log file gets its ready line
  for (;;) {
    const text = await readFile(join(dir, 'ferry.log'), 'utf8').catch(() => '');
    if (text.includes('"broker.started"')) break;
    if (child.exitCode !== null) assert.fail(`it exited (${child.exitCode}): ${text} ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  const lines = (await readFile(join(dir, 'ferry.log'), 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.some((l) => l['event'] === 'broker.stop-requested'), false);
  assert.ok(lines.some((l) => l['event'] === 'broker.stopping' && l['signal'] === 'SIGTERM'));
});
