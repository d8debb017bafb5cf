import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { ferryBin, runFerry } from '../helpers/process.js';
import { testFolder } from '../helpers/temp-dir.js';

// `log.file`: the broker's JSON lines in a file instead of standard output, reopened on SIGHUP as
// logrotate's `create` needs, with its last lines written before the process ends.

/** Every listener but STOMP off, and STOMP on a free port: nothing here needs the others. */
const listeners = ['--stomp-port', '0', '--stomp-host', '127.0.0.1', '--http-port', 'off', '--amqp-port', 'off', '--mqtt-port', 'off', '--openwire-port', 'off', '--ws-port', 'off'];

type Line = Record<string, unknown>;

function linesOf(file: string): Line[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

/** The first line of `file` with this event, once the broker has written it (the file may not exist yet). */
function logged(file: string, event: string, timeoutMs = 120_000): Promise<Line> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      unwatchFile(file, look);
    };
    const look = (): void => {
      const found = linesOf(file).find((l) => l['event'] === event);
      if (found === undefined) return;
      done();
      resolve(found);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no "${event}" line in ${file} within ${timeoutMs} ms: ${existsSync(file) ? readFileSync(file, 'utf8').slice(-600) : 'no file'}`));
    }, timeoutMs);
    watchFile(file, { interval: 20 }, look);
    look();
  });
}

test('log.file gets the log instead of standard output; SIGHUP after a rename starts a new file; the stop lines are in it', async () => {
  const dir = await testFolder('ferry-log-file-');
  // relative, and given through the environment: it is taken from the working directory, as the data folder is
  const child = spawn(process.execPath, [ferryBin, 'start', '--data', 'data', ...listeners], { cwd: dir, env: { ...process.env, FERRY_LOG_FILE: 'logs/ferry.log' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const file = join(dir, 'logs', 'ferry.log');
  try {
    const ready = await logged(file, 'listener.ready');
    await logged(file, 'broker.started');
    const sent = await runFerry(['send', '--port', String(ready['port']), '-d', 'log.file', '--persistent']);
    assert.equal(sent.code, 0, sent.stderr);
    // the client's lines, before the rename, so that none can come between the reopen and the stop
    await logged(file, 'connection.closed');

    const rotated = join(dir, 'logs', 'ferry.log.1');
    renameSync(file, rotated);
    child.kill('SIGHUP');
    const reopened = await logged(file, 'log.reopened');
    assert.equal(reopened['file'], file);
    assert.equal(child.exitCode, null, 'SIGHUP reopened the log and did not stop the broker');

    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    const events = linesOf(file).map((l) => l['event']);
    assert.deepEqual(events, ['log.reopened', 'broker.stopping', 'broker.stopped'], 'the new file has every line since the reopen, up to the last');
    assert.equal(linesOf(file)[1]!['signal'], 'SIGTERM');
    const old = linesOf(rotated).map((l) => l['event']);
    assert.ok(old.includes('broker.started') && !old.includes('log.reopened') && !old.includes('broker.stopping'), `the renamed file kept the lines before the reopen only: ${old.join(', ')}`);
    assert.equal(stdout, '', 'nothing on standard output');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

test('a start that fails writes why to log.file before exiting; log.file in a configuration file is relative to the working directory', async () => {
  const dir = await testFolder('ferry-log-file-');
  mkdirSync(join(dir, 'conf'));
  writeFileSync(join(dir, 'conf', 'ferry.yaml'), 'log:\n  file: broker.log\n');
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const held = String((holder.address() as AddressInfo).port);
  try {
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [ferryBin, 'start', '--config', join('conf', 'ferry.yaml'), '--data', 'data', ...listeners, '--stomp-port', held], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^ferry: listeners\.stomp\.port \(--stomp-port\): port \d+ on 127\.0\.0\.1 is in use by another program/);
    assert.equal(run.stdout, '');
    const lines = linesOf(join(dir, 'broker.log'));
    const last = lines[lines.length - 1];
    assert.equal(last?.['event'], 'broker.start-failed', JSON.stringify(lines));
    assert.match(String(last?.['msg']), /listeners\.stomp\.port .* is in use by another program/);
    assert.equal(existsSync(join(dir, 'conf', 'broker.log')), false);
  } finally {
    holder.close();
  }
});

test('a log.file the broker cannot write stops the start with one line naming the option', async () => {
  const dir = await testFolder('ferry-log-file-');
  const notAFolder = join(dir, 'a-file');
  writeFileSync(notAFolder, '');
  const run = await runFerry(['start', '--data', join(dir, 'data'), ...listeners, '--log-file', join(notAFolder, 'ferry.log')]);
  assert.equal(run.code, 78, run.stderr);
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, /^ferry: --log-file \(log\.file\): cannot write the log to .*a-file\/ferry\.log: /);
  assert.equal(run.stdout, '');
});
