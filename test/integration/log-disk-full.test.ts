import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ferryBin } from '../helpers/process.js';
import { connectStomp } from '../helpers/stomp.js';
import { mountTmpfs } from '../helpers/tmpfs.js';

/**
 * The log's disk fills (standard output redirected to a file on a small file system, as a service
 * manager may have it): log lines that cannot be written are dropped, and the broker goes on serving
 * and stops cleanly when told to.
 */

async function until<T>(what: string, found: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = found();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Writes zeros to `path` until the file system refuses more. */
function fillUp(path: string): void {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4096);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

test('a full log disk: lines are dropped, the broker serves on and stops cleanly', async (t) => {
  const tmpfs = mountTmpfs(t, 256 * 1024);
  if (tmpfs === undefined) return;
  const data = mkdtempSync(join(tmpdir(), 'ferry-log-full-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const logPath = join(tmpfs.dir, 'broker.log');
  const logFd = openSync(logPath, 'w');
  const env = { ...process.env, FERRY_LOG_LEVEL: 'debug', FERRY_STOMP_PORT: '0', FERRY_STOMP_HOST: '127.0.0.1' };
  for (const listener of ['HTTP', 'AMQP', 'MQTT', 'OPENWIRE', 'WS']) Object.assign(env, { [`FERRY_${listener}_PORT`]: '0', [`FERRY_${listener}_HOST`]: '127.0.0.1' });
  const child = spawn(process.execPath, [ferryBin, 'start', '--data', data], { env, stdio: ['ignore', logFd, 'pipe'] });
  closeSync(logFd);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  tmpfs.beforeUnmount(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });

  const logLines = (): Record<string, unknown>[] =>
    readFileSync(logPath, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{') && line.endsWith('}'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  await until('the broker starts', () => (logLines().some((l) => l['event'] === 'broker.started') ? true : undefined));
  const stompPort = await until('the STOMP port', () => logLines().find((l) => l['event'] === 'listener.ready' && l['protocol'] === 'stomp')?.['port'] as number | undefined);

  fillUp(join(tmpfs.dir, 'ballast'));
  // each connection logs; none of it fits
  for (let i = 0; i < 50; i++) await (await connectStomp(stompPort)).disconnect();
  const client = await connectStomp(stompPort);
  const inbox = client.subscribe('/queue/log.full');
  await client.sendConfirmed('/queue/log.full', 'still serving');
  assert.equal((await inbox.next()).body, 'still serving');
  await client.disconnect();
  assert.equal(child.exitCode, null, `the broker runs on; its stderr: ${stderr.slice(-400)}`);

  child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running 20 s after SIGTERM'), 20_000))]);
  assert.equal(code, 0, `the broker stops cleanly; its stderr: ${stderr.slice(-400)}`);
});
