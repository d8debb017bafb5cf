import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { silentLogger, type Logger } from '../../src/core/index.js';
import { isFerryError } from '../../src/errors.js';
import { HaLease, LeaseFile, fencedFileSystem, type LeaseStore } from '../../src/ha/index.js';
import { JournalStore, nodeFileSystem } from '../../src/store/index.js';

const LEASE = 300;
const folders: string[] = [];
after(() => {
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

function folder(): string {
  const f = mkdtempSync(join(tmpdir(), 'ferry-lease-'));
  folders.push(f);
  return f;
}

/** A monotonic clock the test moves by hand. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const fenced = (err: unknown): boolean => isFerryError(err, 'FERRY_HA_FENCED');

/** Waits for `condition`, failing with `what` after ten seconds rather than hanging. */
async function eventually(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; !condition(); i++) {
    if (i >= 1000) assert.fail(`${what}: not within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('a broker that has not renewed for most of its lease refuses to write, and its journal gets nothing more', async () => {
  const dir = folder();
  const clock = manualClock();
  const lease = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE, logger: silentLogger, clock: clock.now });
  await lease.acquire();
  assert.equal(lease.role, 'primary');
  const journal = new JournalStore({ dir: join(dir, 'journal'), fileSystem: fencedFileSystem(nodeFileSystem, () => lease.guard()) });
  await journal.open();
  journal.add(1, 1, Buffer.from('before'));
  await journal.sync();

  clock.advance(LEASE * 0.79);
  lease.guard();
  clock.advance(LEASE * 0.02);
  assert.throws(() => lease.guard(), fenced);
  assert.equal(lease.role, 'fenced');
  journal.add(2, 1, Buffer.from('after'));
  // the journal fails the write as any failed write, naming the refusal; the sync waiting for it
  // hears it when the journal closes, as a fenced broker does at once
  const waiting = journal.sync().then(
    () => undefined,
    (err: unknown) => err,
  );
  await journal.close().catch(() => undefined);
  const refused = await waiting;
  assert.ok(isFerryError(refused, 'FERRY_STORE_FAILED') && fenced(refused.cause));

  const reopened = new JournalStore({ dir: join(dir, 'journal') });
  const state = await reopened.open();
  assert.deepEqual(state.records.map((r) => r.data.toString()), ['before']);
  await reopened.close();
});

test('a broker fenced by a write hears that it lost the lease, as one fenced by its renewal does', async () => {
  const dir = folder();
  const clock = manualClock();
  const lease = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE, logger: silentLogger, clock: clock.now });
  await lease.acquire();
  const lost = new Promise<string>((resolve) => lease.startRenewing(resolve));
  clock.advance(LEASE * 0.81);
  // the journal's next write finds the lease too old, before the renewal timer runs
  assert.throws(() => lease.guard(), fenced);
  assert.match(await lost, /last renewed \d+ ms ago/);
  assert.equal(lease.role, 'fenced');
  await lease.release();
});

test('a primary that renews now, as one that took over does before it serves, may write for most of a lease from then, whatever its start took', async () => {
  const dir = folder();
  const clock = manualClock();
  // renewals a third of a long lease apart: none runs by itself while the test does
  const lease = new HaLease({ store: new LeaseFile(dir), leaseDuration: 60_000, logger: silentLogger, clock: clock.now });
  await lease.acquire();
  lease.startRenewing(() => assert.fail('the lease was lost'));
  // a start (a recovery, a machine short of CPU) that took most of the lease
  clock.advance(60_000 * 0.7);
  await lease.renewNow();
  clock.advance(60_000 * 0.7);
  lease.guard();
  assert.equal(lease.role, 'primary');
  await lease.release();
});

test('a backup takes a lease left unrenewed for a whole duration by its clock; the old holder learns it at its next renewal', async () => {
  const dir = folder();
  const first = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE, logger: silentLogger, holder: 'first' });
  await first.acquire();
  const clock = manualClock();
  let waitingFor: string | undefined;
  const second = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE, logger: silentLogger, clock: clock.now, holder: 'second' });
  const taking = second.acquire(undefined, (holder) => (waitingFor = holder?.holder));
  // the backup has read the lease at least once before its clock moves: it counts from what it saw
  while (waitingFor === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(waitingFor, 'first');
  assert.equal(second.role, 'backup');
  clock.advance(LEASE);
  await taking;
  assert.equal(second.role, 'primary');
  assert.deepEqual(await new LeaseFile(dir).read().then((r) => [r?.holder, r?.generation, r?.released]), ['second', 2, false]);

  const lost = await new Promise<string>((resolve) => first.startRenewing(resolve));
  assert.match(lost, /taken by second/);
  assert.equal(first.role, 'fenced');
  assert.throws(() => first.guard(), fenced);
  await first.release();
  await second.release();
  assert.equal((await new LeaseFile(dir).read())?.released, true);
});

test('a holder held up past its lease that then stops leaves the record of the backup that took over alone', async () => {
  const dir = folder();
  // the first holder's clock stands still: it believes its lease is fresh, as a process paused
  // between two renewals does, and its guard lets the release through to the store
  const frozen = manualClock();
  const warnings: string[] = [];
  const logger: Logger = { ...silentLogger, warn: (obj) => warnings.push((obj as { event: string }).event) };
  const first = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE, logger, clock: frozen.now, holder: 'first' });
  await first.acquire();
  const clock = manualClock();
  let waitingFor: string | undefined;
  const second = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE, logger: silentLogger, clock: clock.now, holder: 'second' });
  const taking = second.acquire(undefined, (holder) => (waitingFor = holder?.holder));
  while (waitingFor === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
  clock.advance(LEASE);
  await taking;
  assert.equal(second.role, 'primary');

  await first.release();
  assert.deepEqual(await new LeaseFile(dir).read().then((r) => [r?.holder, r?.generation, r?.released]), ['second', 2, false]);
  assert.deepEqual(warnings, ['ha.release-skipped']);
  second.guard();
  await second.release();
  assert.equal((await new LeaseFile(dir).read())?.released, true);
});

test('a backup with a shorter lease than the holder\'s waits out the holder\'s: the holder fences itself by its own', async () => {
  const dir = folder();
  const first = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE * 10, logger: silentLogger, holder: 'first', clock: manualClock().now });
  await first.acquire();
  assert.equal((await new LeaseFile(dir).read())?.leaseDuration, LEASE * 10);
  const clock = manualClock();
  let waiting = false;
  const second = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE, logger: silentLogger, clock: clock.now, holder: 'second' });
  const taking = second.acquire(undefined, () => (waiting = true));
  while (!waiting) await new Promise((resolve) => setTimeout(resolve, 10));
  clock.advance(LEASE * 9);
  await polls(3);
  assert.equal(second.role, 'backup', 'the holder may still write for most of its own lease');
  clock.advance(LEASE);
  await taking;
  assert.equal(second.role, 'primary');
  await second.release();
});

test('a lease record without the holder\'s duration, as older brokers wrote it, is judged by the backup\'s own', async () => {
  const dir = folder();
  writeFileSync(join(dir, 'ha-lease'), JSON.stringify({ holder: 'old', host: 'elsewhere', processSpace: 'elsewhere/boot/ns', pid: 1, generation: 4, counter: 9, released: false, renewedAt: new Date().toISOString() }));
  const clock = manualClock();
  let waitingFor: string | undefined;
  const lease = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE, logger: silentLogger, clock: clock.now, holder: 'new' });
  const taking = lease.acquire(undefined, (holder) => (waitingFor = holder?.holder));
  while (waitingFor === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(waitingFor, 'old');
  clock.advance(LEASE);
  await taking;
  assert.deepEqual(await new LeaseFile(dir).read().then((r) => [r?.holder, r?.generation, r?.leaseDuration]), ['new', 5, LEASE]);
  await lease.release();
});

test('a lease file deleted under a renewing holder: the holder stops at its next renewal, the backup says it waits, takes over a lease later at the next generation', async () => {
  const dir = folder();
  const first = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE, logger: silentLogger, holder: 'first', clock: manualClock().now });
  await first.acquire();
  const clock = manualClock();
  const waitingFor: (string | undefined)[] = [];
  const second = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE, logger: silentLogger, clock: clock.now, holder: 'second' });
  const taking = second.acquire(undefined, (holder) => waitingFor.push(holder?.holder));
  await eventually('the backup waits', () => waitingFor.length > 0);
  const lost = new Promise<string>((resolve) => first.startRenewing(resolve));
  unlinkSync(join(dir, 'ha-lease'));
  assert.match(await lost, /lease file is gone/);
  await eventually('the backup says it waits for a missing lease', () => waitingFor.length > 1);
  assert.deepEqual(waitingFor, ['first', undefined]);
  await polls(3);
  assert.equal(second.role, 'backup', 'a missing lease on a folder that was held is not free at once');
  clock.advance(LEASE);
  await taking;
  assert.deepEqual(await new LeaseFile(dir).read().then((r) => [r?.holder, r?.generation]), ['second', 2]);
  await second.release();
});

test('a broker that finds claims but no lease says it waits, and takes the generation after the last claim', async () => {
  const dir = folder();
  writeFileSync(join(dir, 'ha-claim-2'), 'gone');
  writeFileSync(join(dir, 'ha-claim-3'), 'gone');
  const clock = manualClock();
  let waiting = false;
  const lease = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE, logger: silentLogger, clock: clock.now, holder: 'late' });
  const taking = lease.acquire(undefined, () => (waiting = true));
  await eventually('the broker says it waits', () => waiting);
  clock.advance(LEASE);
  await taking;
  assert.deepEqual(await new LeaseFile(dir).read().then((r) => [r?.holder, r?.generation]), ['late', 4]);
  await lease.release();
});

test('a backup that cannot write its claim (EPERM) says so and tries again until it can, then takes over', async () => {
  const dir = folder();
  const first = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE, logger: silentLogger, holder: 'first' });
  await first.acquire();
  await first.release();
  const file = new LeaseFile(dir);
  let refusals = 3;
  // the folder refuses new files for a while, as a read-only or immutable folder does
  const store: LeaseStore = Object.assign(Object.create(file) as LeaseFile, {
    claim: (generation: number, holder: string): Promise<boolean> =>
      refusals-- > 0 ? Promise.reject(Object.assign(new Error(`EPERM: operation not permitted, open '${dir}/ha-claim-${generation}'`), { code: 'EPERM' })) : file.claim(generation, holder),
  });
  const warnings: Record<string, unknown>[] = [];
  const logger: Logger = { ...silentLogger, warn: (fields) => void warnings.push(fields as Record<string, unknown>) };
  const second = new HaLease({ store, leaseDuration: LEASE, logger, holder: 'second' });
  await second.acquire();
  assert.equal(second.role, 'primary');
  assert.deepEqual(warnings.map((w) => [w['event'], (w['err'] as NodeJS.ErrnoException).code]), Array(3).fill(['ha.acquire-failed', 'EPERM']));
  assert.deepEqual(await new LeaseFile(dir).read().then((r) => [r?.holder, r?.generation]), ['second', 2]);
  await second.release();
});

// long enough that a loaded machine's scheduling delays never look like a stalled holder
const RENEWING_LEASE = 1500;

test('a renewing holder keeps its lease: the backup never sees it still', async () => {
  const dir = folder();
  const holder = new HaLease({ store: new LeaseFile(dir), leaseDuration: RENEWING_LEASE, logger: silentLogger, holder: 'holder' });
  await holder.acquire();
  holder.startRenewing(() => assert.fail('the lease was lost'));
  const file = new LeaseFile(dir);
  const counters = new Set<number>();
  // renewed every third of the lease: within two durations the counter has moved at least three times
  while (counters.size < 4) {
    counters.add((await file.read())!.counter);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const controller = new AbortController();
  const backup = new HaLease({ store: new LeaseFile(dir), leaseDuration: RENEWING_LEASE, logger: silentLogger, holder: 'backup' });
  const waiting = backup.acquire(controller.signal);
  // waiting through several renewals is a real-time wait by nature; the check is that it never took over
  await new Promise((resolve) => setTimeout(resolve, RENEWING_LEASE * 3));
  assert.equal(backup.role, 'backup');
  controller.abort();
  await assert.rejects(waiting, (err: unknown) => isFerryError(err, 'FERRY_BROKER_STOPPING'));
  await holder.release();
});

test('of brokers racing to take one generation, exactly one claims it', async () => {
  const file = new LeaseFile(folder());
  const claims = await Promise.all(['a', 'b', 'c', 'd'].map((who) => file.claim(7, who)));
  assert.equal(claims.filter(Boolean).length, 1);
});

/**
 * A holder whose clock stands still (it never thinks itself too late to renew) and a backup on a
 * hand-moved clock that records what it hears of the holder's lateness; resolves once the backup has
 * read the lease and waits.
 */
async function holderAndWatchingBackup(): Promise<{ first: HaLease; second: HaLease; clock: ReturnType<typeof manualClock>; overdue: boolean[]; taking: Promise<void> }> {
  const dir = folder();
  const first = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE, logger: silentLogger, holder: 'first', clock: manualClock().now });
  await first.acquire();
  const clock = manualClock();
  const overdue: boolean[] = [];
  let waiting = false;
  const second = new HaLease({ store: new LeaseFile(dir), leaseDuration: LEASE, logger: silentLogger, clock: clock.now, holder: 'second' });
  const taking = second.acquire(undefined, () => (waiting = true), (late) => overdue.push(late));
  while (!waiting) await new Promise((resolve) => setTimeout(resolve, 10));
  return { first, second, clock, overdue, taking };
}

/** Lets the backup read the lease `n` more times (its reads are at most 100 ms apart in real time). */
async function polls(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 60));
}

test('a backup hears when the holder misses a renewal by a tenth of the lease, and when it renews after all', async () => {
  const { first, second, clock, overdue, taking } = await holderAndWatchingBackup();
  clock.advance(LEASE / 3 + LEASE / 10 - 5);
  await polls(3);
  assert.deepEqual(overdue, [], 'a renewal not yet a tenth of the lease late is not overdue');
  clock.advance(10);
  for (let i = 0; i < 50 && overdue.length === 0; i++) await polls(1);
  assert.deepEqual(overdue, [true]);
  // the holder was slow, not dead
  first.startRenewing(() => {});
  for (let i = 0; i < 50 && overdue.length === 1; i++) await polls(1);
  assert.deepEqual(overdue, [true, false]);
  assert.equal(second.role, 'backup');
  await first.release();
  await taking;
  assert.equal(second.role, 'primary');
  await second.release();
});

test('a backup that takes an unrenewed lease is not told the holder renewed: what it read ahead is kept for the takeover', async () => {
  const { second, clock, overdue, taking } = await holderAndWatchingBackup();
  clock.advance(LEASE / 2);
  for (let i = 0; i < 50 && overdue.length === 0; i++) await polls(1);
  assert.deepEqual(overdue, [true]);
  clock.advance(LEASE);
  await taking;
  assert.equal(second.role, 'primary');
  assert.deepEqual(overdue, [true]);
  await second.release();
});
