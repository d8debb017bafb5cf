/**
 * What one user's JMS connection (ActiveMQ's own client) owns, with security on, while other users
 * reach for it through other protocols and name forms: a temporary queue, a durable subscription.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import amqplib from 'amqplib';
import type { StompHeaders } from '@stomp/stompjs';
import { eventLine, openwireJavaMissing, runDriver, spawnDriver, type DriverLine } from '../helpers/openwire-java.js';
import { channelError } from '../helpers/amqp091.js';
import { startSecureBroker, type SecureBroker } from '../helpers/security.js';
import { uniqueName, withReceipt, within } from '../helpers/raw-stomp.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';

const skip = openwireJavaMissing() ?? false;

const every = (groups: string[]): Record<string, string[]> => ({ read: groups, write: groups, create: groups, browse: groups, admin: groups });

const USERS = {
  owner: { password: 'owner-secret', groups: ['owners'] },
  // every right on every ordinary queue and topic, none on temporary destinations
  carol: { password: 'carol-secret', groups: ['ordinary'] },
  // rights on app.> and on temporary destinations
  alice: { password: 'alice-secret', groups: ['app'] },
};

let broker: SecureBroker;
before(async () => {
  if (skip !== false) return;
  broker = await startSecureBroker({
    users: USERS,
    authorization: [
      { queue: '>', ...every(['owners', 'ordinary']) },
      { topic: '>', ...every(['owners', 'ordinary']) },
      { temporary: true, ...every(['owners']) },
      { temporary: true, read: ['app'], write: ['app'], create: ['app'], browse: ['app'] },
      { queue: 'app.>', read: ['app'], write: ['app'], create: ['app'] },
      { topic: 'app.>', read: ['app'], write: ['app'], create: ['app'] },
      { topic: 'ActiveMQ.Advisory.>', read: ['*'], write: ['*'], create: ['*'] },
    ],
  });
});
after(async () => {
  await broker?.stop();
});

const url = (): string => `tcp://127.0.0.1:${broker.ports['openwire']}`;
const login = (user: keyof typeof USERS): Promise<StompTestClient> =>
  connectStomp(broker.stompPort, { headers: { login: user, passcode: USERS[user].password } });

/** A STOMP frame `act` sends with a receipt, answered by an ERROR that closes the connection: its code. */
async function refusedCode(client: StompTestClient, act: (receipt: StompHeaders) => void): Promise<string | undefined> {
  act({ receipt: uniqueName('r') });
  await within(5000, 'the refused connection to close', client.closed);
  return client.errors[0]?.headers['code'];
}

/** basic.get of `queue` by `user`: the channel's error code, or what it got. */
async function basicGet(user: keyof typeof USERS, queue: string): Promise<number | string | false> {
  const connection = await amqplib.connect(`amqp://${user}:${USERS[user].password}@127.0.0.1:${broker.amqpPort}`);
  try {
    const ch = await connection.createChannel();
    const failed = channelError(ch);
    const got = await ch.get(queue, { noAck: true }).catch(() => failed);
    if (got instanceof Error) return got.code ?? got.message;
    return got === false ? false : got.content.toString();
  } finally {
    await connection.close().catch(() => {});
  }
}

test('a JMS temporary queue and topic are their owner\'s: another user reaches one by its name as an ordinary destination only with the temporary rights, sends with them, and never consumes from it', { skip, timeout: 120_000 }, async () => {
  const dest = uniqueName('owned');
  let announced!: (line: DriverLine) => void;
  const named = new Promise<DriverLine>((resolve) => (announced = resolve));
  const owner = spawnDriver('temporary-owner', url(), { user: 'owner', password: USERS.owner.password, dest, count: 3 }, 90_000, (line: DriverLine) => {
    if (line['event'] === 'temporary') announced(line);
  });
  const temporary = await within(60_000, 'the temporary destinations\' names', named);
  const name = String(temporary['name']);
  const topic = String(temporary['topic']);

  // carol may read and write every ordinary queue, which the temporary queue is not
  const stealer = await login('carol');
  assert.equal(await refusedCode(stealer, (r) => stealer.client.subscribe(`/queue/${name}`, () => {}, r)), 'FERRY_NOT_AUTHORIZED');
  const forger = await login('carol');
  assert.equal(await refusedCode(forger, (r) => forger.client.publish({ destination: `/queue/${name}`, body: 'forged by carol', headers: r, skipContentLengthHeader: true })), 'FERRY_NOT_AUTHORIZED');
  assert.equal(await basicGet('carol', name), 403);

  // alice has the temporary rights: she may send to it, but only its connection consumes from it
  const alice = await login('alice');
  await withReceipt(alice, (r) => alice.client.publish({ destination: `/queue/${name}`, body: 'reply from alice', headers: r, skipContentLengthHeader: true }));
  await alice.disconnect();
  const reader = await login('alice');
  assert.equal(await refusedCode(reader, (r) => reader.client.subscribe(`/queue/${name}`, () => {}, r)), 'FERRY_DESTINATION_NOT_FOUND');
  const browser = await login('alice');
  assert.equal(await refusedCode(browser, (r) => browser.client.subscribe(`/queue/${name}`, () => {}, { ...r, browser: 'true' })), 'FERRY_DESTINATION_NOT_FOUND');
  assert.equal(await basicGet('alice', name), 405);

  // the same for the temporary topic, as an ordinary topic of its name
  const listener = await login('carol');
  assert.equal(await refusedCode(listener, (r) => listener.client.subscribe(`/topic/${topic}`, () => {}, r)), 'FERRY_NOT_AUTHORIZED');
  const subscriber = await login('alice');
  assert.equal(await refusedCode(subscriber, (r) => subscriber.client.subscribe(`/topic/${topic}`, () => {}, r)), 'FERRY_DESTINATION_NOT_FOUND');

  const go = await login('owner');
  await go.sendConfirmed(`/queue/${dest}.go`, 'go');
  await go.disconnect();
  const result = await owner.done;
  assert.equal(result.code, 0, result.lines.map((l) => JSON.stringify(l)).join('\n') + result.stderr);
  assert.deepEqual(eventLine(result, 'owner-received')['bodies'], ['reply 0', 'reply 1', 'reply 2', 'reply from alice']);
});

test('a durable subscription made by another user is not replaced, with what it kept, by a subscriber under its client id and name without the right to delete it; its maker still changes it', { skip, timeout: 120_000 }, async () => {
  const dest = uniqueName('durable');
  const result = await runDriver('durable-change', url(), {
    user: 'owner',
    password: USERS.owner.password,
    'other-user': 'alice',
    'other-password': USERS.alice.password,
    'client-id': uniqueName('orders-service'),
    // alice may read, write and create app.>, not delete the owner's subscription's topic
    dest: `app.${dest}`,
    count: 3,
  });
  assert.match(String(eventLine(result, 'other-subscribed')['refusal']), /^javax\.jms\.JMSSecurityException: .*alice.*delete/);
  assert.deepEqual(eventLine(result, 'owner-resumed')['bodies'], ['waiting 0', 'waiting 1', 'waiting 2']);
  assert.deepEqual(eventLine(result, 'owner-moved')['bodies'], ['moved 0']);
});
