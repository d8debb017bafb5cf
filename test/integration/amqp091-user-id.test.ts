import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import amqplib, { type Channel, type ChannelModel, type GetMessage } from 'amqplib';
import { startSecureBroker, type SecureBroker } from '../helpers/security.js';
import { connectStomp } from '../helpers/stomp.js';
import { connectAmqp } from '../helpers/amqp.js';
import { jmsCheck, jmsMissing, one } from '../helpers/jms.js';
import { getWaiting } from '../helpers/amqp091.js';

/**
 * A 0-9-1 consumer trusts `user_id`: the broker checked it names the publisher's own user. A header,
 * STOMP header or AMQP 1.0 property named JMSXUserID is the client's own claim and stays one, which
 * STOMP and JMS consumers never get as their JMSXUserID.
 */
let broker: SecureBroker;
let admin: ChannelModel;
let ch: Channel;
before(async () => {
  broker = await startSecureBroker({ users: { admin: { password: 'admin-secret' }, mallory: { password: 'mallory-secret' } }, authorization: null });
  admin = await amqplib.connect(`amqp://admin:admin-secret@127.0.0.1:${broker.amqpPort}`);
  ch = await admin.createChannel();
});
after(async () => {
  await admin.close();
  await broker.stop();
});

let counter = 0;
/** A queue that dead-letters through the default exchange into its own `.dl` queue. */
async function queueWithDeadLetters(name: string): Promise<{ q: string; dl: string }> {
  const q = `uid.${name}.${counter++}`;
  const dl = `${q}.dl`;
  await ch.assertQueue(dl);
  await ch.assertQueue(q, { arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dl } });
  return { q, dl };
}

/** The message as a consumer of `q` reads it, and again once rejected into `dl`. */
async function directAndDeadLettered(q: string, dl: string): Promise<[GetMessage, GetMessage]> {
  const direct = await getWaiting(ch, q);
  ch.reject(direct, false);
  const dead = await getWaiting(ch, dl);
  ch.ack(dead);
  return [direct, dead];
}

async function asMallory(): Promise<ChannelModel> {
  return amqplib.connect(`amqp://mallory:mallory-secret@127.0.0.1:${broker.amqpPort}`);
}

test('a 0-9-1 header named JMSXUserID stays a header, and is no user_id, also once dead-lettered', async () => {
  const { q, dl } = await queueWithDeadLetters('header');
  const mallory = await asMallory();
  const pub = await mallory.createConfirmChannel();
  pub.sendToQueue(q, Buffer.from('forged'), { headers: { JMSXUserID: 'admin' } });
  await pub.waitForConfirms();
  await mallory.close();
  for (const m of await directAndDeadLettered(q, dl)) {
    assert.equal(m.properties.userId, undefined);
    assert.equal(m.properties.headers?.['JMSXUserID'], 'admin');
  }
});

test('a checked user_id reaches 0-9-1 consumers, also once dead-lettered, and other protocols as their own user id', async () => {
  const { q, dl } = await queueWithDeadLetters('checked');
  const mallory = await asMallory();
  const pub = await mallory.createConfirmChannel();
  pub.sendToQueue(q, Buffer.from('mine'), { userId: 'mallory', headers: { JMSXUserID: 'admin' } });
  await pub.waitForConfirms();
  for (const m of await directAndDeadLettered(q, dl)) {
    assert.equal(m.properties.userId, 'mallory');
    assert.equal(m.properties.headers?.['JMSXUserID'], 'admin');
  }

  const stomp = await connectStomp(broker.stompPort, { headers: { login: 'admin', passcode: 'admin-secret' } });
  const amqp = await connectAmqp(broker.amqpPort, { username: 'admin', password: 'admin-secret' });
  try {
    const toStomp = `uid.to-stomp.${counter++}`;
    const toAmqp = `uid.to-amqp.${counter++}`;
    await ch.assertQueue(toStomp);
    await ch.assertQueue(toAmqp);
    const inbox = stomp.subscribe(`/queue/${toStomp}`);
    const { inbox: amqpInbox } = await amqp.openReceiver({ source: { address: toAmqp } });
    pub.sendToQueue(toStomp, Buffer.from('to stomp'), { userId: 'mallory' });
    pub.sendToQueue(toAmqp, Buffer.from('to amqp'), { userId: 'mallory' });
    await pub.waitForConfirms();
    assert.equal((await inbox.next()).headers['JMSXUserID'], 'mallory');
    const received = (await amqpInbox.next()).message;
    assert.equal(Buffer.from(received.user_id as unknown as Buffer).toString(), 'mallory');
  } finally {
    await mallory.close();
    await stomp.disconnect();
    await amqp.close();
  }
});

test('a JMSXUserID claimed by a STOMP or 0-9-1 publisher never reaches a STOMP consumer as the JMSXUserID header, which only a checked user id fills', async () => {
  const q = `uid.claims.${counter++}`;
  const stomp = await connectStomp(broker.stompPort, { headers: { login: 'mallory', passcode: 'mallory-secret' } });
  const reader = await connectStomp(broker.stompPort, { headers: { login: 'admin', passcode: 'admin-secret' } });
  const mallory = await asMallory();
  try {
    const inbox = reader.subscribe(`/queue/${q}`);
    await stomp.sendConfirmed(`/queue/${q}`, 'stomp claim', { JMSXUserID: 'admin' });
    const ch = await mallory.createConfirmChannel();
    ch.sendToQueue(q, Buffer.from('0-9-1 claim'), { headers: { JMSXUserID: 'admin' } });
    ch.sendToQueue(q, Buffer.from('0-9-1 checked'), { userId: 'mallory', headers: { JMSXUserID: 'admin' } });
    await ch.waitForConfirms();
    const got = [await inbox.next(), await inbox.next(), await inbox.next()];
    assert.deepEqual(got.map((m) => [m.body, m.headers['JMSXUserID']]), [['stomp claim', undefined], ['0-9-1 claim', undefined], ['0-9-1 checked', 'mallory']]);
  } finally {
    await mallory.close();
    await reader.disconnect();
    await stomp.disconnect();
  }
});

test('a STOMP header named JMSXUserID is no user_id for a 0-9-1 consumer, also once dead-lettered', async () => {
  const { q, dl } = await queueWithDeadLetters('stomp');
  const stomp = await connectStomp(broker.stompPort, { headers: { login: 'mallory', passcode: 'mallory-secret' } });
  try {
    await stomp.sendConfirmed(`/queue/${q}`, 'forged', { JMSXUserID: 'admin' });
    for (const m of await directAndDeadLettered(q, dl)) {
      assert.equal(m.properties.userId, undefined);
      assert.equal(m.properties.headers?.['JMSXUserID'], 'admin');
    }
  } finally {
    await stomp.disconnect();
  }
});

test('an AMQP 1.0 user-id or application property named JMSXUserID is no user_id for a 0-9-1 consumer', async () => {
  const { q, dl } = await queueWithDeadLetters('amqp');
  const amqp = await connectAmqp(broker.amqpPort, { username: 'mallory', password: 'mallory-secret' });
  try {
    const sender = await amqp.openSender({ target: { address: q } });
    const outcome = await amqp.send(sender, { body: 'forged', user_id: 'admin', application_properties: { JMSXUserID: 'admin' } });
    assert.equal(outcome.state, 'accepted');
    for (const m of await directAndDeadLettered(q, dl)) {
      assert.equal(m.properties.userId, undefined);
      assert.equal(m.properties.headers?.['JMSXUserID'], 'admin');
    }
  } finally {
    await amqp.close();
  }
});

test('an AMQP 1.0 user-id naming the sender\'s own user is the checked user id', async () => {
  const { q, dl } = await queueWithDeadLetters('amqp-own');
  const amqp = await connectAmqp(broker.amqpPort, { username: 'mallory', password: 'mallory-secret' });
  try {
    const sender = await amqp.openSender({ target: { address: q } });
    assert.equal((await amqp.send(sender, { body: 'mine', user_id: 'mallory' })).state, 'accepted');
    for (const m of await directAndDeadLettered(q, dl)) assert.equal(m.properties.userId, 'mallory');
  } finally {
    await amqp.close();
  }
});

test('a JMS producer\'s JMSXUserID is the checked user id only when it is the message\'s userID and names its own user', { skip: jmsMissing() }, async () => {
  const url = (user: string): string => `tcp://127.0.0.1:${broker.ports.openwire}?jms.userName=${user}&jms.password=${user}-secret`;
  for (const [how, claimed, checked] of [['field', 'admin', undefined], ['property', 'admin', undefined], ['property', 'mallory', undefined], ['field', 'mallory', 'mallory']] as const) {
    const { q, dl } = await queueWithDeadLetters(`jms-${how}`);
    await jmsCheck(url('mallory'), 'send-claiming', q, how, claimed);
    for (const m of await directAndDeadLettered(q, dl)) {
      assert.equal(m.properties.userId, checked, `${how} ${claimed}`);
      assert.equal(m.properties.headers?.['JMSXUserID'], checked === undefined ? claimed : undefined, `${how} ${claimed}`);
    }
  }

  // and back: a JMS consumer reads the checked user id as JMSXUserID, and never a header claiming one
  const toJms = `uid.to-jms.${counter++}`;
  await ch.assertQueue(toJms);
  const mallory = await asMallory();
  const pub = await mallory.createConfirmChannel();
  pub.sendToQueue(toJms, Buffer.from('checked'), { userId: 'mallory', headers: { JMSXUserID: 'admin' } });
  pub.sendToQueue(toJms, Buffer.from('claimed'), { headers: { JMSXUserID: 'admin' } });
  await pub.waitForConfirms();
  await mallory.close();
  assert.equal(one(await jmsCheck(url('admin'), 'read-user', toJms), 'JMSXUserID'), 'mallory');
  assert.equal(one(await jmsCheck(url('admin'), 'read-user', toJms), 'JMSXUserID'), null);
});

test('a checked user_id, and a header named JMSXUserID, read the same after a restart', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ferry-user-id-'));
  const users = { mallory: { password: 'mallory-secret' } };
  let restarted = await startSecureBroker({ users, authorization: null, settings: { data } });
  try {
    const url = (): string => `amqp://mallory:mallory-secret@127.0.0.1:${restarted.amqpPort}`;
    let conn = await amqplib.connect(url());
    const pub = await conn.createConfirmChannel();
    await pub.assertQueue('uid.kept', { durable: true });
    pub.sendToQueue('uid.kept', Buffer.from('checked'), { persistent: true, userId: 'mallory' });
    pub.sendToQueue('uid.kept', Buffer.from('claimed'), { persistent: true, headers: { JMSXUserID: 'admin' } });
    await pub.waitForConfirms();
    await conn.close();
    await restarted.server.stop();

    restarted = await startSecureBroker({ users, authorization: null, settings: { data } });
    conn = await amqplib.connect(url());
    const get = await conn.createChannel();
    const checked = await get.get('uid.kept', { noAck: true });
    const claimed = await get.get('uid.kept', { noAck: true });
    assert.ok(checked !== false && claimed !== false);
    assert.deepEqual([checked.content.toString(), checked.properties.userId], ['checked', 'mallory']);
    assert.deepEqual([claimed.content.toString(), claimed.properties.userId, claimed.properties.headers?.['JMSXUserID']], ['claimed', undefined, 'admin']);
    await conn.close();
  } finally {
    await restarted.server.stop();
    rmSync(data, { recursive: true, force: true });
  }
});
