import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeepAliveWheel, type KeepAliveClock, type KeepAliveWatched } from '../../src/protocols/mqtt/keep-alive.js';

/** A clock the test moves; its timer runs only when the test says so. */
function manualClock(start = 1_000_000): KeepAliveClock & { at: number; timers: number } {
  const clock = {
    at: start,
    timers: 0,
    now: () => clock.at,
    every: () => {
      clock.timers++;
      return () => void clock.timers--;
    },
  };
  return clock;
}

function client(clock: { at: number }, limitMs: number): KeepAliveWatched & { heard(): void; held: boolean; expiredAt: number | undefined } {
  let last = clock.at;
  const c = {
    keepAliveLimit: limitMs,
    keepAliveSlot: -1,
    held: false,
    expiredAt: undefined as number | undefined,
    heard: () => void (last = clock.at),
    silentSince: () => (c.held ? undefined : last),
    keepAliveExpired: () => void (c.expiredAt = clock.at),
  };
  return c;
}

/** Moves the clock in steps of `stepMs` up to `toMs` after the start, ticking the wheel each time. */
function run(wheel: KeepAliveWheel, clock: { at: number }, stepMs: number, toMs: number, each?: (elapsed: number) => void): void {
  const start = clock.at;
  while (clock.at - start < toMs) {
    clock.at += stepMs;
    each?.(clock.at - start);
    wheel.tick();
  }
}

// The wheel's promise: closed once silent for longer than the limit, and at most two ticks after it
// (one for the slot, one for where the timer's tick falls in it).
test('a silent client is closed once silent for longer than its limit, within two ticks, and not before', () => {
  const clock = manualClock();
  const wheel = new KeepAliveWheel(clock, 250);
  const start = clock.at;
  const silent = client(clock, 1500);
  wheel.watch(silent);
  run(wheel, clock, 50, 1500);
  assert.equal(silent.expiredAt, undefined, 'still open at its limit');
  run(wheel, clock, 50, 500);
  assert.ok(silent.expiredAt !== undefined, 'closed');
  const after = silent.expiredAt - start;
  assert.ok(after > 1500 && after <= 2000, `closed ${after} ms after its last packet`);
  assert.equal(wheel.size, 0);
  assert.equal(clock.timers, 0, 'no timer left once nobody is watched');
});

test('a client that keeps talking stays, one that stops is closed counted from its last packet', () => {
  const clock = manualClock();
  const wheel = new KeepAliveWheel(clock, 250);
  const start = clock.at;
  const talker = client(clock, 1500);
  const quitter = client(clock, 1500);
  wheel.watch(talker);
  wheel.watch(quitter);
  assert.equal(clock.timers, 1, 'one timer for every connection');
  run(wheel, clock, 100, 60_000, (elapsed) => {
    if (elapsed % 1000 === 0) talker.heard();
    if (elapsed <= 10_000 && elapsed % 1000 === 0) quitter.heard();
  });
  assert.equal(talker.expiredAt, undefined);
  assert.ok(quitter.expiredAt !== undefined);
  const after = quitter.expiredAt - (start + 10_000);
  assert.ok(after > 1500 && after <= 2000, `closed ${after} ms after its last packet`);
  assert.equal(wheel.size, 1);
});

test('a held client is not closed while its reading is held, and its silence counts from the hold\'s end', () => {
  const clock = manualClock();
  const wheel = new KeepAliveWheel(clock, 250);
  const c = client(clock, 1000);
  wheel.watch(c);
  c.held = true;
  run(wheel, clock, 100, 10_000);
  assert.equal(c.expiredAt, undefined);
  c.held = false;
  c.heard();
  const released = clock.at;
  run(wheel, clock, 100, 3000);
  assert.ok(c.expiredAt !== undefined && c.expiredAt - released > 1000 && c.expiredAt - released <= 1500, `closed ${String(c.expiredAt! - released)} ms after the hold ended`);
});

test('unwatched clients are never expired; a clock that jumps looks at every missed slot once', () => {
  const clock = manualClock();
  const wheel = new KeepAliveWheel(clock, 250);
  const gone = client(clock, 1000);
  const stays = client(clock, 1000);
  const late = client(clock, 5000);
  wheel.watch(gone);
  wheel.watch(stays);
  wheel.watch(late);
  wheel.unwatch(gone);
  wheel.unwatch(gone);
  assert.equal(wheel.size, 2);
  clock.at += 3000;
  wheel.tick();
  assert.equal(gone.expiredAt, undefined);
  assert.equal(stays.expiredAt, clock.at);
  assert.equal(late.expiredAt, undefined);
  clock.at += 60_000;
  wheel.tick();
  assert.equal(late.expiredAt, clock.at);
  assert.equal(wheel.size, 0);
});
