import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { runFerry, spawnBroker } from '../helpers/process.js';
import { connectStomp } from '../helpers/stomp.js';
import { drain, streamUntil } from '../helpers/stream.js';

/**
 * A journal segment file that disappears while the broker is stopped (an operator's clean-up, a
 * restore that missed one): the start is refused, naming the file, and changes nothing, so putting
 * the file back brings every confirmed message back; with store.journal.repair the broker starts
 * and says what is missing.
 */

const MESSAGES = 400;
const BODY = 'p'.repeat(1000);
const SETTINGS = 'store:\n  journal:\n    segmentSize: 65536\n    minFreeDisk: 0\n    compactInterval: 200\n';
/** `ferry start` run to its end gets free ports too: a start that is not refused must not collide with other tests. */
const FREE_PORTS = Object.fromEntries(['HTTP', 'AMQP', 'MQTT', 'OPENWIRE', 'WS'].flatMap((l) => [[`FERRY_${l}_PORT`, '0'], [`FERRY_${l}_HOST`, '127.0.0.1']]));

interface Folder {
  readonly args: string[];
  readonly repairArgs: string[];
  readonly journal: string;
  readonly confirmed: ReadonlySet<number>;
}

/** A broker that took MESSAGES confirmed persistent sends to queue pay, over several segment files, and stopped cleanly. */
async function filledFolder(t: TestContext): Promise<Folder> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-missing-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ferry.yaml'), SETTINGS);
  writeFileSync(join(dir, 'repair.yaml'), `${SETTINGS}    repair: true\n`);
  const common = ['--data', join(dir, 'data'), '--stomp-port', '0', '--stomp-host', '127.0.0.1'];
  const args = [...common, '--config', join(dir, 'ferry.yaml')];
  const broker = await spawnBroker(args);
  t.after(() => broker.stop('SIGKILL'));
  const producer = await connectStomp(broker.ports['stomp']!);
  const confirmed = await streamUntil(producer, '/queue/pay', 32, (n) => n >= MESSAGES, (n) => `${n}:${BODY}`);
  await producer.disconnect();
  assert.equal(await broker.stop(), 0);
  assert.ok(confirmed.size >= MESSAGES);
  return { args, repairArgs: [...common, '--config', join(dir, 'repair.yaml')], journal: join(dir, 'data', 'journal'), confirmed };
}

function segmentFiles(journal: string): string[] {
  return readdirSync(journal).filter((name) => name.endsWith('.jnl')).sort();
}

/** Starts a broker on the folder, takes every message of queue pay, stops it; returns their seq numbers. */
async function drainAll(t: TestContext, args: string[], expected: ReadonlySet<number>): Promise<Set<number>> {
  const broker = await spawnBroker(args);
  t.after(() => broker.stop('SIGKILL'));
  const consumer = await connectStomp(broker.ports['stomp']!);
  const got = await drain(consumer, '/queue/pay', expected);
  await consumer.disconnect();
  await broker.stop();
  return new Set(got.map((m) => Number(m.headers['seq'])));
}

async function refusedStart(args: string[]): Promise<string> {
  const run = await runFerry(['start', ...args], { env: FREE_PORTS, timeoutMs: 30_000 });
  assert.notEqual(run.code, 0, 'the start is refused');
  return run.stderr;
}

for (const which of ['first', 'middle', 'last'] as const) {
  test(`the ${which} journal segment file missing at start stops the start, naming it, and changes nothing: put back, every confirmed message is there`, async (t) => {
    const folder = await filledFolder(t);
    const files = segmentFiles(folder.journal);
    assert.ok(files.length >= 4, `the messages span several segments (${files.join(' ')})`);
    const gone = which === 'first' ? files[0]! : which === 'middle' ? files[Math.floor(files.length / 2)]! : files[files.length - 1]!;
    renameSync(join(folder.journal, gone), join(folder.journal, '..', gone));
    const before = readdirSync(folder.journal).sort();

    const stderr = await refusedStart(folder.args);
    assert.match(stderr, /FERRY_STORE_CORRUPT/);
    assert.ok(stderr.includes(gone), `the error names ${gone}: ${stderr}`);
    assert.match(stderr, /store\.journal\.repair/);
    assert.deepEqual(readdirSync(folder.journal).sort(), before, 'the refused start deleted nothing');

    renameSync(join(folder.journal, '..', gone), join(folder.journal, gone));
    const got = await drainAll(t, folder.args, folder.confirmed);
    assert.deepEqual([...folder.confirmed].filter((n) => !got.has(n)), [], 'every confirmed message came back');
  });
}

test('with store.journal.repair a broker starts without a missing segment file and logs which one and what it lost', async (t) => {
  const folder = await filledFolder(t);
  const files = segmentFiles(folder.journal);
  const gone = files[Math.floor(files.length / 2)]!;
  rmSync(join(folder.journal, gone));

  const broker = await spawnBroker(folder.repairArgs);
  t.after(() => broker.stop('SIGKILL'));
  const missing = await broker.logged('journal.segment.missing');
  assert.equal(missing['level'], 40);
  assert.deepEqual(missing['files'], [gone]);
  const recovered = await broker.logged('broker.recovered');
  const kept = recovered['messages'] as number;
  assert.ok(kept > 0 && kept < MESSAGES, `part of the messages was in ${gone}: ${kept} of ${MESSAGES} back`);
  const consumer = await connectStomp(broker.ports['stomp']!);
  const got = await drain(consumer, '/queue/pay');
  assert.equal(got.length, kept);
  await consumer.disconnect();
  await broker.stop();

  // repaired: the next start without repair opens what is left
  const again = await spawnBroker(folder.args);
  t.after(() => again.stop('SIGKILL'));
  assert.equal(again.logs.find((l) => l['event'] === 'journal.segment.missing'), undefined);
  await again.stop();
});

test('a folder with no list of its segments (written by an older Ferry) that lost its first file keeps the messages it cannot place, so putting the file back brings them all', async (t) => {
  const folder = await filledFolder(t);
  rmSync(join(folder.journal, 'segments'), { force: true });
  const files = segmentFiles(folder.journal);
  // the first file holds the queue's declaration: every later message is left without its queue
  renameSync(join(folder.journal, files[0]!), join(folder.journal, '..', files[0]!));

  const broker = await spawnBroker(folder.args);
  t.after(() => broker.stop('SIGKILL'));
  const orphans = await broker.logged('store.orphans');
  // compactions and reclaims get their turns (every 200 ms) before the stop
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await broker.stop();
  for (const file of files.slice(1)) assert.ok(readdirSync(folder.journal).includes(file), `${file} is still there`);

  renameSync(join(folder.journal, '..', files[0]!), join(folder.journal, files[0]!));
  const got = await drainAll(t, folder.args, folder.confirmed);
  assert.deepEqual([...folder.confirmed].filter((n) => !got.has(n)), [], 'every confirmed message came back');
  assert.equal(orphans['deleted'], false, 'the start said it kept what it could not place');
  assert.ok((orphans['dangling'] as number) > 0);
});
