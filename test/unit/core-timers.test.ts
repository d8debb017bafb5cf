import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TimerQueue } from '../../src/core/timers.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await tick();
  assert.ok(done(), `never happened: ${what}`);
}

test('entries run in order of due time, and in the order added within one due time; cancelled ones never run', async () => {
  const now = 1_000_000;
  const timers = new TimerQueue(() => now);
  const ran: string[] = [];
  const dues = [now - 5, now - 10, now - 5, now - 1, now - 10, now - 5];
  const handles = dues.map((due, i) => timers.at(due, () => ran.push(`${due - now}:${i}`)));
  timers.cancel(handles[2]!);
  // later than now: waits for a clock that does not move
  timers.at(now + 60_000, () => ran.push('later'));
  assert.equal(timers.size, 7);
  await until('the due entries run', () => ran.length >= 5);
  await tick();
  assert.deepEqual(ran, ['-10:1', '-10:4', '-5:0', '-5:5', '-1:3']);
  assert.equal(timers.size, 1);
  timers.stop();
  assert.equal(timers.size, 0);
});

test('an entry added while its due time runs, for that time, runs in the same turn; a burst runs in bounded turns', async () => {
  const now = 1_000_000;
  const timers = new TimerQueue(() => now);
  const ran: number[] = [];
  const turns: number[] = [];
  let inTurn = false;
  const record = (i: number): void => {
    ran.push(i);
    if (!inTurn) {
      inTurn = true;
      turns.push(0);
      queueMicrotask(() => {
        inTurn = false;
      });
    }
    turns[turns.length - 1]!++;
  };
  const count = 25_000;
  for (let i = 0; i < count; i++) {
    timers.at(now, () => {
      record(i);
      if (i === 0) timers.at(now, () => record(count));
    });
  }
  await until('the burst runs', () => ran.length > count);
  // the entry added by the first one joins the end of its time's list
  assert.deepEqual(ran, Array.from({ length: count + 1 }, (_, i) => i));
  assert.deepEqual(turns, [10_000, 10_000, 5001]);
  timers.stop();
});
