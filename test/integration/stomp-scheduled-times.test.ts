import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { MemoryStore } from '../../src/store/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectStomp, type Inbox, type StompTestClient } from '../helpers/stomp.js';

/**
 * When scheduled messages reach a STOMP subscriber, as ActiveMQ's job scheduler times them. The
 * broker's clock and timers are node:test's mock (Date and setTimeout), moved by hand; the sockets
 * are real, and an inbox is waited on for a message's arrival, never for wall time.
 */

const START = Date.UTC(2026, 0, 5, 9, 0, 0);

interface Scene {
  readonly broker: TestBroker;
  readonly client: StompTestClient;
  readonly t: TestContext;
}

async function scene(t: TestContext): Promise<Scene> {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: START });
  const broker = await startBroker({}, { store: new MemoryStore() });
  const client = await connectStomp(broker.stompPort);
  t.after(async () => {
    t.mock.timers.reset();
    await client.disconnect();
    await broker.stop();
  });
  return { broker, client, t };
}

/** A few turns of the event loop (setImmediate is not mocked): what the broker sent has arrived. */
async function turns(n = 50): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Moves the clock on by `ms`; in steps, so that a timer armed by another one's callback fires at its own time. */
async function advance(s: Scene, ms: number): Promise<void> {
  for (let done = 0; done < ms; done += 1000) {
    s.t.mock.timers.tick(Math.min(1000, ms - done));
    await turns(5);
  }
  await turns();
}

/** Nothing arrives until `ms` is nearly over; then one message does (its inbox waits for it, on no timer that the mock holds back). */
async function arrivesAfter(s: Scene, inbox: Inbox, ms: number, what: string): Promise<string> {
  const before = inbox.size;
  await advance(s, ms - 100);
  assert.equal(inbox.size, before, `${what}: nothing yet ${ms - 100} ms on`);
  s.t.mock.timers.tick(100);
  return (await inbox.next()).body;
}

test('AMQ_SCHEDULED_PERIOD and REPEAT without a delay: the first delivery waits one period, as ActiveMQ\'s does', async (t) => {
  const s = await scene(t);
  const inbox = s.client.subscribe('/queue/times.period');
  await s.client.sendConfirmed('/queue/times.period', 'tick', { AMQ_SCHEDULED_PERIOD: '2000', AMQ_SCHEDULED_REPEAT: '2' });
  for (const n of [1, 2, 3]) assert.equal(await arrivesAfter(s, inbox, 2000, `delivery ${n}`), 'tick');
  await advance(s, 10_000);
  assert.equal(inbox.size, 0, 'three deliveries in all');
});

test('AMQ_SCHEDULED_CRON with AMQ_SCHEDULED_DELAY and no repeat: the first firing comes the delay after the expression\'s time, the next at its time, as ActiveMQ\'s does', async (t) => {
  const s = await scene(t);
  const inbox = s.client.subscribe('/queue/times.cron');
  await s.client.sendConfirmed('/queue/times.cron', 'cron', { AMQ_SCHEDULED_CRON: '* * * * *', AMQ_SCHEDULED_DELAY: '20000' });
  // the clock stands on a whole minute: the expression's first time is a minute on
  assert.equal(await arrivesAfter(s, inbox, 80_000, 'the first firing'), 'cron');
  assert.equal(await arrivesAfter(s, inbox, 40_000, 'the second firing'), 'cron');
});
