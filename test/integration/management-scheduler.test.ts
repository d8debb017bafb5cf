/**
 * ActiveMQ's scheduler management over messaging, through a real STOMP client (@stomp/stompjs):
 * a message to topic ActiveMQ.Scheduler.Management with AMQ_SCHEDULER_ACTION BROWSE, REMOVE or
 * REMOVEALL, as ActiveMQ's scripts send it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { startSecureBroker } from '../helpers/security.js';
import { subscribeConfirmed, uniqueName } from '../helpers/raw-stomp.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';

const MANAGEMENT = '/topic/ActiveMQ.Scheduler.Management';

let broker: TestBroker;
let client: StompTestClient;

before(async () => {
  broker = await startBroker();
  client = await connectStomp(broker.stompPort);
});

after(async () => {
  await client.disconnect();
  await broker.stop();
});

/** The scheduled jobs waiting for queue `q`, as BROWSE replies them: body -> scheduledJobId. */
async function browse(q: string, extra: Record<string, string> = {}): Promise<Map<string, string>> {
  const replies = uniqueName('replies');
  const inbox = await subscribeConfirmed(client, `/queue/${replies}`);
  await client.sendConfirmed(MANAGEMENT, '', { AMQ_SCHEDULER_ACTION: 'BROWSE', 'reply-to': `/queue/${replies}`, ...extra });
  const jobs = new Map<string, string>();
  // one reply per job the scheduler holds in the window, this queue's among them
  const total = broker.server.broker.admin.scheduledList().filter((j) => {
    const from = Number(extra['ACTION_START_TIME'] ?? 0);
    const to = Number(extra['ACTION_END_TIME'] ?? Number.POSITIVE_INFINITY);
    return j.due >= from && j.due <= to;
  }).length;
  for (const m of await inbox.take(total)) {
    if (m.body.startsWith(q)) jobs.set(m.body, m.headers['scheduledJobId']!);
  }
  inbox.subscription.unsubscribe();
  return jobs;
}

test('BROWSE replies one message per scheduled job, with its scheduledJobId; REMOVE takes one out', async () => {
  const q = uniqueName('jobs');
  await client.sendConfirmed(`/queue/${q}`, `${q}-a`, { AMQ_SCHEDULED_DELAY: '3600000', persistent: 'true' });
  await client.sendConfirmed(`/queue/${q}`, `${q}-b`, { AMQ_SCHEDULED_DELAY: '7200000' });
  const jobs = await browse(q);
  assert.deepEqual([...jobs.keys()].sort(), [`${q}-a`, `${q}-b`]);
  for (const id of jobs.values()) assert.match(id, /^ID:/);
  await client.sendConfirmed(MANAGEMENT, '', { AMQ_SCHEDULER_ACTION: 'REMOVE', scheduledJobId: jobs.get(`${q}-a`)! });
  assert.deepEqual([...(await browse(q)).keys()], [`${q}-b`]);
  // the API sees the same: one job left for the queue
  const left = broker.server.broker.admin.scheduledList().filter((j) => j.message.destination.name === q);
  assert.deepEqual(left.map((j) => j.id), [jobs.get(`${q}-b`)]);
});

test('REMOVEALL within ACTION_START_TIME..ACTION_END_TIME takes only the jobs due then; without them, all', async () => {
  const q = uniqueName('window');
  await client.sendConfirmed(`/queue/${q}`, `${q}-soon`, { AMQ_SCHEDULED_DELAY: '600000' });
  await client.sendConfirmed(`/queue/${q}`, `${q}-late`, { AMQ_SCHEDULED_DELAY: '86400000' });
  const now = Date.now();
  await client.sendConfirmed(MANAGEMENT, '', { AMQ_SCHEDULER_ACTION: 'REMOVEALL', ACTION_START_TIME: String(now), ACTION_END_TIME: String(now + 3_600_000) });
  assert.deepEqual([...(await browse(q)).keys()], [`${q}-late`]);
  // BROWSE within a window, too
  assert.deepEqual([...(await browse(q, { ACTION_START_TIME: String(now + 3_600_000) })).keys()], [`${q}-late`]);
  await client.sendConfirmed(MANAGEMENT, '', { AMQ_SCHEDULER_ACTION: 'REMOVEALL' });
  assert.equal(broker.server.broker.admin.scheduledList().length, 0);
  assert.deepEqual([...(await browse(q)).keys()], []);
});

test('with security on, a scheduler command acts with its sender\'s rights: browse to see a job, admin to cancel it, send to the reply-to', async () => {
  const secure = await startSecureBroker({
    users: { admin: { password: 'admin-secret', groups: ['admins'] }, alice: { password: 'alice-secret', groups: ['app'] } },
    authorization: [
      { queue: '>', read: ['admins'], write: ['admins'], create: ['admins'], browse: ['admins'], admin: ['admins'] },
      { topic: '>', read: ['admins'], write: ['admins'], create: ['admins'], admin: ['admins'] },
      { queue: 'app.>', read: ['app'], write: ['app'], create: ['app'], browse: ['app'], admin: ['app'] },
      { topic: 'ActiveMQ.Scheduler.Management', write: ['app'], create: ['app'] },
    ],
  });
  const admin = await connectStomp(secure.stompPort, { headers: { login: 'admin', passcode: 'admin-secret' } });
  const alice = await connectStomp(secure.stompPort, { headers: { login: 'alice', passcode: 'alice-secret' } });
  try {
    await admin.sendConfirmed('/queue/secret.q', 'admin secret', { AMQ_SCHEDULED_DELAY: '3600000' });
    await alice.sendConfirmed('/queue/app.q', 'alice own', { AMQ_SCHEDULED_DELAY: '3600000' });
    const jobsFor = (name: string): number => secure.server.broker.admin.scheduledList().filter((j) => j.message.destination.name === name).length;
    // replies to a queue she may not send to go nowhere
    await alice.sendConfirmed(MANAGEMENT, '', { AMQ_SCHEDULER_ACTION: 'BROWSE', 'reply-to': '/queue/secret.q' });
    // replies to her own queue show only what she may browse
    const inbox = await subscribeConfirmed(alice, '/queue/app.replies');
    await alice.sendConfirmed(MANAGEMENT, '', { AMQ_SCHEDULER_ACTION: 'BROWSE', 'reply-to': '/queue/app.replies' });
    assert.deepEqual((await inbox.take(1)).map((m) => m.body), ['alice own']);
    await alice.sendConfirmed(MANAGEMENT, '', { AMQ_SCHEDULER_ACTION: 'REMOVEALL' });
    assert.equal(jobsFor('app.q'), 0, 'her own job is cancelled');
    assert.equal(jobsFor('secret.q'), 1, 'admin\'s stays');
    // a round trip after the commands: nothing more reached her replies, nor secret.q
    await alice.sendConfirmed('/queue/app.replies', 'marker');
    assert.deepEqual((await inbox.take(1)).map((m) => m.body), ['marker']);
    const secret = secure.server.broker.admin.destinationList().find((d) => d.kind === 'queue' && d.name === 'secret.q');
    assert.equal(secret?.depth ?? 0, 0, 'no browse reply landed in secret.q');
  } finally {
    await alice.disconnect();
    await admin.disconnect();
    await secure.stop();
  }
});
