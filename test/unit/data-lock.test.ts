import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { DataFolderLock, processAlive } from '../../src/store/index.js';

const folders: string[] = [];
after(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function folder(): string {
  const made = mkdtempSync(join(tmpdir(), 'ferry-lock-'));
  folders.push(made);
  return made;
}

/** A process killed with SIGKILL whose parent has not reaped it (a zombie), and that parent. */
async function zombie(): Promise<{ pid: number; parent: number; done: () => void }> {
  // the parent forks, kills its child and sleeps without waiting for it
  const parent = spawn(process.execPath, ['-e', `
    const { spawn } = require('node:child_process');
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    process.kill(child.pid, 'SIGKILL');
    // Node reaps its children from its event loop: blocking it keeps the dead child a zombie
    console.log(child.pid);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = await new Promise<number>((resolve) => parent.stdout.once('data', (line: Buffer) => resolve(Number(line.toString().trim()))));
  // the SIGKILL is delivered at once, but the state says so only when the child has died
  for (let i = 0; i < 1000 && !readFileSync(`/proc/${pid}/stat`, 'latin1').includes(') Z '); i++) await new Promise((r) => setTimeout(r, 5));
  return { pid, parent: parent.pid!, done: () => parent.kill('SIGKILL') };
}

test('a broker killed with SIGKILL and not yet reaped (a zombie) holds no data folder', { skip: process.platform !== 'linux' && 'zombies are read from /proc' }, async () => {
  const dead = await zombie();
  try {
    assert.equal(processAlive(dead.parent), true);
    assert.equal(processAlive(dead.pid), false, 'a zombie runs no more');
    const data = folder();
    writeFileSync(join(data, 'lock'), `${dead.pid}\n`);
    const lock = DataFolderLock.acquire(data);
    assert.match(readFileSync(join(data, 'lock'), 'utf8'), new RegExp(`^${process.pid} token=`));
    lock.release();
  } finally {
    dead.done();
  }
});

test('the lock of a live broker started without --ha keeps out both kinds; that of a live --ha broker only one started without it', () => {
  const alone = folder();
  writeFileSync(join(alone, 'lock'), `${process.ppid}\n`);
  for (const holding of ['alone', 'ha'] as const) {
    assert.throws(() => DataFolderLock.acquire(alone, holding), { code: 'FERRY_STORE_LOCKED', message: new RegExp(`process ${process.ppid}, a broker started without --ha`) });
  }
  const shared = folder();
  writeFileSync(join(shared, 'lock'), `${process.ppid} ha\n`);
  assert.throws(() => DataFolderLock.acquire(shared, 'alone'), { code: 'FERRY_STORE_LOCKED', message: /the primary of brokers started with --ha/ });
  // the lease made this one primary: the other lost it and is fenced
  const primary = DataFolderLock.acquire(shared, 'ha');
  assert.match(readFileSync(join(shared, 'lock'), 'utf8'), new RegExp(`^${process.pid} ha token=`));
  // a release leaves alone a lock another broker took over since
  writeFileSync(join(shared, 'lock'), `${process.ppid} ha\n`);
  primary.release();
  assert.equal(readFileSync(join(shared, 'lock'), 'utf8'), `${process.ppid} ha\n`);
});

const lockModule = new URL('../../src/store/index.js', import.meta.url).href;

/**
 * Processes, each a broker about to start, that lock the folder they are given all at once (as a
 * supervisor and a person may start brokers together), say whether they got it, and keep it.
 */
async function contenders(count: number): Promise<{ lock: (data: string) => Promise<string[]>; done: () => void }> {
  const script = `
    import { DataFolderLock } from ${JSON.stringify(lockModule)};
    import { createInterface } from 'node:readline';
    for await (const data of createInterface({ input: process.stdin })) {
      try {
        DataFolderLock.acquire(data);
        console.log('locked');
      } catch (err) {
        console.log(err.code);
      }
    }
  `;
  const children = Array.from({ length: count }, () => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const answers = children.map((child) => {
    const waiting: ((line: string) => void)[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.(line));
    return (): Promise<string> => new Promise((resolve) => waiting.push(resolve));
  });
  return {
    lock: (data) => {
      const outcomes = Promise.all(answers.map((next) => next()));
      for (const child of children) child.stdin.write(`${data}\n`);
      return outcomes;
    },
    done: () => {
      for (const child of children) child.stdin.end();
    },
  };
}

/** The pid of a process that has run and been reaped. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

test('of brokers started at once on a folder, exactly one locks it, whatever stale lock is there', { skip: process.platform !== 'linux' && 'boot ids are read from /proc', timeout: 300_000 }, async () => {
  const brokers = await contenders(6);
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    for (let round = 0; round < 60; round++) {
      const data = folder();
      // none; an older broker's (a pid only); one of this version's
      if (round % 3 === 1) writeFileSync(join(data, 'lock'), `${await deadPid()}\n`);
      if (round % 3 === 2) writeFileSync(join(data, 'lock'), `${await deadPid()} token=0123abcd start=1 boot=${boot}\n`);
      const outcomes = await brokers.lock(data);
      assert.equal(outcomes.filter((o) => o === 'locked').length, 1, `round ${round}: ${outcomes.join(', ')}`);
      assert.deepEqual(outcomes.filter((o) => o !== 'locked' && o !== 'FERRY_STORE_LOCKED'), [], `round ${round}`);
    }
  } finally {
    brokers.done();
  }
});

test('a lock whose pid now names another process (reused after a crash, a reboot, in a new container) is taken over', { skip: process.platform !== 'linux' && 'start times are read from /proc' }, async () => {
  const unrelated = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    await new Promise((resolve) => unrelated.once('spawn', resolve));
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${unrelated.pid}/stat`, 'latin1');
    const started = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    // the broker that wrote it ran at another time, or in an earlier boot
    for (const written of [`start=1 boot=${boot}`, `start=${started} boot=00000000-0000-0000-0000-000000000000`]) {
      const data = folder();
      writeFileSync(join(data, 'lock'), `${unrelated.pid} token=0123abcd ${written}\n`);
      const lock = DataFolderLock.acquire(data);
      assert.match(readFileSync(join(data, 'lock'), 'utf8'), new RegExp(`^${process.pid} token=`));
      lock.release();
    }
    // the same start time in this boot is the broker itself, still running
    const held = folder();
    writeFileSync(join(held, 'lock'), `${unrelated.pid} token=0123abcd start=${started} boot=${boot}\n`);
    assert.throws(() => DataFolderLock.acquire(held), { code: 'FERRY_STORE_LOCKED' });
  } finally {
    unrelated.kill('SIGKILL');
  }
});

test('a lock that names another folder (copied with it while its broker runs) is taken over; one of an older broker naming no folder is not', { skip: process.platform !== 'linux' && 'boot ids are read from /proc' }, () => {
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const stat = readFileSync(`/proc/${process.ppid}/stat`, 'latin1');
  const started = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  const live = `${process.ppid} token=0123abcd start=${started} boot=${boot}`;
  const copy = folder();
  const original = statSync(folder());
  writeFileSync(join(copy, 'lock'), `${live} folder=${original.dev}:${original.ino}\n`);
  const lock = DataFolderLock.acquire(copy);
  const here = statSync(copy);
  assert.match(readFileSync(join(copy, 'lock'), 'utf8'), new RegExp(`^${process.pid} token=.* folder=${here.dev}:${here.ino}\\n$`));
  lock.release();

  const held = folder();
  const heldStat = statSync(held);
  for (const written of [`${live} folder=${heldStat.dev}:${heldStat.ino}`, live]) {
    writeFileSync(join(held, 'lock'), `${written}\n`);
    assert.throws(() => DataFolderLock.acquire(held), { code: 'FERRY_STORE_LOCKED', message: new RegExp(`is not a Ferry broker using this folder, remove ${join(held, 'lock')}`) });
  }
  // another boot (another host sharing the folder with --ha): its device numbers say nothing here
  writeFileSync(join(held, 'lock'), `${process.ppid} ha token=0123abcd start=${started} boot=00000000-0000-0000-0000-000000000000 folder=${original.dev}:${original.ino}\n`);
  assert.throws(() => DataFolderLock.acquire(held), { code: 'FERRY_STORE_LOCKED', message: /the primary of brokers started with --ha/ });
});
