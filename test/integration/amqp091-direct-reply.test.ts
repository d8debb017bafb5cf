import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqplib, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { startSecureBroker, type SecureBroker } from '../helpers/security.js';
import { AmqplibInbox, Raw091, bodyFrame, channelError, connect091, consumeInto } from '../helpers/amqp091.js';
import { encodeContentHeader, encodeProperties } from '../../src/protocols/amqp091/frames.js';
import { Inbox } from '../helpers/inbox.js';
import { connectStomp } from '../helpers/stomp.js';

const REPLY_TO = 'amq.rabbitmq.reply-to';

let broker: TestBroker;
let client: ChannelModel;
let server: ChannelModel;
before(async () => {
  broker = await startBroker();
  client = await connect091(broker.amqpPort);
  server = await connect091(broker.amqpPort);
});
after(async () => {
  await client.close();
  await server.close();
  await broker.stop();
});

let counter = 0;
function unique(name: string): string {
  return `reply.${name}.${counter++}`;
}

/** A server on its own connection: it answers every request on `queue` to its reply-to, upper-cased. */
async function startEchoServer(conn: ChannelModel, queue: string): Promise<{ ch: Channel; requests: AmqplibInbox }> {
  const ch = await conn.createChannel();
  await ch.assertQueue(queue);
  const requests = new AmqplibInbox();
  await ch.consume(queue, (m) => {
    if (m === null) return;
    requests.push(m);
    ch.publish('', m.properties.replyTo as string, Buffer.from(m.content.toString().toUpperCase()), { correlationId: m.properties.correlationId as string });
    ch.ack(m);
  });
  return { ch, requests };
}

describe('direct reply-to', () => {
  test('an RPC round trip: the request carries a reply key, and the reply reaches the requesting channel', async () => {
    const queue = unique('rpc');
    const { requests } = await startEchoServer(server, queue);
    const ch = await client.createChannel();
    const { inbox: replies } = await consumeInto(ch, REPLY_TO, { noAck: true });
    ch.sendToQueue(queue, Buffer.from('ping'), { replyTo: REPLY_TO, correlationId: 'c-1', headers: { nested: { kept: 1 } } });
    const request = await requests.next();
    const replyTo = request.properties.replyTo as string;
    assert.ok(replyTo.startsWith(`${REPLY_TO}.`), replyTo);
    assert.notEqual(replyTo, `${REPLY_TO}.`);
    // the rest of the publisher's properties are as it sent them
    assert.deepEqual(request.properties.headers, { nested: { kept: 1 } });
    const reply = await replies.next();
    assert.equal(reply.content.toString(), 'PING');
    assert.equal(reply.properties.correlationId, 'c-1');
    assert.equal(reply.fields.exchange, '');
    assert.equal(reply.fields.routingKey, replyTo);
    await ch.close();
  });

  test('a reply published with confirms is acknowledged, and a second request gets the same reply key', async () => {
    const queue = unique('confirm');
    const requests = new AmqplibInbox();
    const serverCh = await server.createConfirmChannel();
    await serverCh.assertQueue(queue);
    await serverCh.consume(queue, (m) => m !== null && requests.push(m), { noAck: true });
    const ch = await client.createChannel();
    const { inbox: replies } = await consumeInto(ch, REPLY_TO, { noAck: true });
    ch.sendToQueue(queue, Buffer.from('a'), { replyTo: REPLY_TO });
    ch.sendToQueue(queue, Buffer.from('b'), { replyTo: REPLY_TO });
    const [a, b] = await requests.take(2);
    assert.equal(a!.properties.replyTo, b!.properties.replyTo);
    await new Promise<void>((resolve, reject) => serverCh.publish('', a!.properties.replyTo as string, Buffer.from('to a'), {}, (err) => (err ? reject(err) : resolve())));
    assert.equal((await replies.next()).content.toString(), 'to a');
    await serverCh.close();
    await ch.close();
  });

  test('a reply published in a transaction arrives at its commit', async () => {
    const queue = unique('tx');
    const requests = new AmqplibInbox();
    const serverCh = await server.createChannel();
    await serverCh.assertQueue(queue);
    await serverCh.consume(queue, (m) => m !== null && requests.push(m), { noAck: true });
    const ch = await client.createChannel();
    const { inbox: replies } = await consumeInto(ch, REPLY_TO, { noAck: true });
    ch.sendToQueue(queue, Buffer.from('q'), { replyTo: REPLY_TO });
    const key = (await requests.next()).properties.replyTo as string;
    // amqplib has no tx.select: a raw client publishes the reply in a transaction
    const raw = await Raw091.ready(broker.amqpPort);
    raw.send(1, 'tx.select', {});
    await raw.method(); // select-ok
    const body = Buffer.from('committed');
    raw.send(1, 'basic.publish', { ticket: 0, exchange: '', routingKey: key, mandatory: false, immediate: false });
    raw.write(Buffer.concat([encodeContentHeader(1, body.length, encodeProperties({})), bodyFrame(1, body)]));
    await replies.expectNothing(100);
    raw.send(1, 'tx.commit', {});
    const commitOk = await raw.method();
    assert.deepEqual([commitOk.classId, commitOk.methodId], [90, 21]);
    assert.equal((await replies.next()).content.toString(), 'committed');
    raw.socket.destroy();
    await serverCh.close();
    await ch.close();
  });

  test('a passive declare of amq.rabbitmq.reply-to answers declare-ok; a real declare of an amq. name is 403', async () => {
    const ch = await client.createChannel();
    assert.deepEqual(await ch.checkQueue(REPLY_TO), { queue: REPLY_TO, messageCount: 0, consumerCount: 0 });
    const failed = channelError(ch);
    await assert.rejects(ch.assertQueue(REPLY_TO), /403|ACCESS_REFUSED/);
    assert.equal((await failed).code, 403);
  });

  test('publishing with reply-to amq.rabbitmq.reply-to without a reply consumer on the channel is 406', async () => {
    const queue = unique('noconsumer');
    const ch = await client.createChannel();
    await ch.assertQueue(queue);
    const failed = channelError(ch);
    ch.sendToQueue(queue, Buffer.from('x'), { replyTo: REPLY_TO });
    const err = await failed;
    assert.equal(err.code, 406);
    assert.match(err.message, /fast reply consumer does not exist/);
  });

  test('a reply consumer must be no-ack, and there is one per channel', async () => {
    const ch = await client.createChannel();
    const failed = channelError(ch);
    await assert.rejects(ch.consume(REPLY_TO, () => {}, { noAck: false }), /406|PRECONDITION_FAILED/);
    assert.match((await failed).message, /reply consumer cannot acknowledge/);

    const ch2 = await client.createChannel();
    await ch2.consume(REPLY_TO, () => {}, { noAck: true });
    const again = channelError(ch2);
    await assert.rejects(ch2.consume(REPLY_TO, () => {}, { noAck: true }), /406|PRECONDITION_FAILED/);
    assert.match((await again).message, /reply consumer already set/);
  });

  test('basic.cancel ends the reply consumer: its key reaches nobody, and reply-to needs a consumer again', async () => {
    const queue = unique('cancel');
    const requests = new AmqplibInbox();
    const serverCh = await server.createChannel();
    await serverCh.assertQueue(queue);
    await serverCh.consume(queue, (m) => m !== null && requests.push(m), { noAck: true });
    const ch = await client.createChannel();
    const { tag } = await consumeInto(ch, REPLY_TO, { noAck: true });
    ch.sendToQueue(queue, Buffer.from('q'), { replyTo: REPLY_TO });
    const key = (await requests.next()).properties.replyTo as string;
    await ch.cancel(tag);
    const returned = new Inbox<ConsumeMessage>('return');
    serverCh.on('return', (m: ConsumeMessage) => returned.push(m));
    serverCh.publish('', key, Buffer.from('late'), { mandatory: true });
    assert.equal((await returned.next()).fields.routingKey, key);
    // consuming again works after a cancel
    const { inbox: replies } = await consumeInto(ch, REPLY_TO, { noAck: true });
    ch.sendToQueue(queue, Buffer.from('q2'), { replyTo: REPLY_TO });
    const key2 = (await requests.next()).properties.replyTo as string;
    serverCh.publish('', key2, Buffer.from('fresh'));
    assert.equal((await replies.next()).content.toString(), 'fresh');
    await serverCh.close();
    await ch.close();
  });

  test('a reply after the requester has gone is dropped, or returned with mandatory, and the replying channel carries on', async () => {
    const queue = unique('gone');
    const requests = new AmqplibInbox();
    const serverCh = await server.createConfirmChannel();
    await serverCh.assertQueue(queue);
    await serverCh.consume(queue, (m) => m !== null && requests.push(m), { noAck: true });
    const requester = await connect091(broker.amqpPort);
    const ch = await requester.createChannel();
    await ch.consume(REPLY_TO, () => {}, { noAck: true });
    ch.sendToQueue(queue, Buffer.from('q'), { replyTo: REPLY_TO });
    const key = (await requests.next()).properties.replyTo as string;
    await requester.close();

    const returned = new Inbox<ConsumeMessage>('return');
    serverCh.on('return', (m: ConsumeMessage) => returned.push(m));
    await new Promise<void>((resolve, reject) => serverCh.publish('', key, Buffer.from('dropped'), {}, (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve, reject) => serverCh.publish('', key, Buffer.from('back'), { mandatory: true }, (err) => (err ? reject(err) : resolve())));
    const back = await returned.next();
    assert.equal(back.content.toString(), 'back');
    assert.equal(back.fields.routingKey, key);
    assert.equal((back.fields as unknown as { replyCode: number }).replyCode, 312);
    await returned.expectNothing(100);
    // a malformed token is no different
    serverCh.publish('', `${REPLY_TO}.!!not-a-token`, Buffer.from('bad'), { mandatory: true });
    assert.equal((await returned.next()).content.toString(), 'bad');
    assert.deepEqual(await serverCh.checkQueue(queue), { queue, messageCount: 0, consumerCount: 1 });
    await serverCh.close();
  });

  test('a redelivered request keeps its reply key', async () => {
    const queue = unique('redelivered');
    const serverCh = await server.createChannel();
    await serverCh.assertQueue(queue);
    const ch = await client.createChannel();
    const { inbox: replies } = await consumeInto(ch, REPLY_TO, { noAck: true });
    ch.sendToQueue(queue, Buffer.from('q'), { replyTo: REPLY_TO });
    // a redelivery encodes its properties anew, from the kept ones
    const first = await serverCh.get(queue);
    assert.ok(first !== false);
    serverCh.nack(first, false, true);
    const again = await serverCh.get(queue, { noAck: true });
    assert.ok(again !== false);
    assert.equal(again.fields.redelivered, true);
    assert.equal(again.properties.replyTo, first.properties.replyTo);
    serverCh.publish('', again.properties.replyTo as string, Buffer.from('r'));
    assert.equal((await replies.next()).content.toString(), 'r');
    await serverCh.close();
    await ch.close();
  });

  test('a STOMP server replies to the temporary queue the reply-to names, and the requester sees the reply key', async () => {
    const queue = unique('stomp');
    const stomp = await connectStomp(broker.ports.stomp);
    const requests = stomp.subscribe(`/queue/${queue}`);
    await stomp.sendConfirmed('/queue/warm-up.' + queue, 'x');
    const ch = await client.createChannel();
    const { inbox: replies } = await consumeInto(ch, REPLY_TO, { noAck: true });
    ch.sendToQueue(queue, Buffer.from('from 0-9-1'), { replyTo: REPLY_TO, correlationId: 'c-s' });
    const request = await requests.next();
    const replyTo = request.headers['reply-to']!;
    assert.match(replyTo, /^\/(remote-)?temp-queue\//);
    await stomp.sendConfirmed(replyTo, 'from STOMP', { 'correlation-id': request.headers['correlation-id']! });
    const reply = await replies.next();
    assert.equal(reply.content.toString(), 'from STOMP');
    assert.equal(reply.properties.correlationId, 'c-s');
    assert.ok(reply.fields.routingKey.startsWith(`${REPLY_TO}.`), reply.fields.routingKey);
    await stomp.disconnect();
    await ch.close();
  });

  test('a STOMP requester\'s temporary reply queue reaches a 0-9-1 server as a reply key it can publish to', async () => {
    const queue = unique('stomp-requester');
    const serverCh = await server.createChannel();
    await serverCh.assertQueue(queue);
    const requests = new AmqplibInbox();
    await serverCh.consume(queue, (m) => m !== null && requests.push(m), { noAck: true });
    const stomp = await connectStomp(broker.ports.stomp);
    const replies = stomp.subscribe('/temp-queue/replies');
    await stomp.sendConfirmed(`/queue/${queue}`, 'from STOMP', { 'reply-to': '/temp-queue/replies' });
    const key = (await requests.next()).properties.replyTo as string;
    assert.ok(key.startsWith(`${REPLY_TO}.`), key);
    serverCh.publish('', key, Buffer.from('from 0-9-1'));
    assert.equal((await replies.next()).body, 'from 0-9-1');
    await stomp.disconnect();
    await serverCh.close();
  });
});

describe('direct reply-to under authorization', () => {
  let secure: SecureBroker;
  before(async () => {
    const everything = { read: ['admins'], write: ['admins'], create: ['admins'], browse: ['admins'], admin: ['admins'] };
    secure = await startSecureBroker({
      users: {
        admin: { password: 'admin-secret', groups: ['admins'] },
        worker: { password: 'worker-secret', groups: ['workers'] },
        forger: { password: 'forger-secret', groups: ['forgers'] },
      },
      authorization: [
        { queue: '>', ...everything },
        { temporary: true, ...everything },
        { queue: 'rpc.>', read: ['workers'] },
        { queue: 'amq.rabbitmq.reply-to.*', write: ['workers', 'forgers'] },
      ],
    });
  });
  after(async () => {
    await secure.stop();
  });

  test('the replier needs the right to publish to the key, not a right on temporary queues', async () => {
    const requester = await amqplib.connect(`amqp://admin:admin-secret@127.0.0.1:${secure.amqpPort}`);
    const worker = await amqplib.connect(`amqp://worker:worker-secret@127.0.0.1:${secure.amqpPort}`);
    const ch = await requester.createChannel();
    await ch.assertQueue('rpc.secure');
    const { inbox: replies } = await consumeInto(ch, REPLY_TO, { noAck: true });
    // the worker only reads rpc.>, so it consumes the queue the requester declared
    const wch = await worker.createChannel();
    const requests = new AmqplibInbox();
    await wch.consume('rpc.secure', (m) => {
      if (m === null) return;
      requests.push(m);
      wch.publish('', m.properties.replyTo as string, Buffer.from('OK'));
    }, { noAck: true });
    ch.sendToQueue('rpc.secure', Buffer.from('go'), { replyTo: REPLY_TO });
    await requests.next();
    assert.equal((await replies.next()).content.toString(), 'OK');
    await worker.close();
    await requester.close();
  });

  test('a reply key no request carried reaches no temporary queue: neither the bare name in base64url nor a changed key', async () => {
    const stomp = await connectStomp(secure.ports.stomp, { headers: { login: 'admin', passcode: 'admin-secret' } });
    const replies = stomp.subscribe('/temp-queue/forged');
    await stomp.sendConfirmed('/queue/rpc.forged', 'warm-up');
    const worker = await amqplib.connect(`amqp://worker:worker-secret@127.0.0.1:${secure.amqpPort}`);
    const wch = await worker.createChannel();
    const requests = new AmqplibInbox();
    await wch.consume('rpc.forged', (m) => m !== null && requests.push(m), { noAck: true });
    await requests.next();
    await stomp.sendConfirmed('/queue/rpc.forged', 'request', { 'reply-to': '/temp-queue/forged' });
    const key = (await requests.next()).properties.replyTo as string;
    // the temporary queue's name, which the forger could learn or guess: core's names are a prefix and a counter
    const observer = await connectStomp(secure.ports.stomp, { headers: { login: 'admin', passcode: 'admin-secret' } });
    const seen = observer.subscribe('/queue/rpc.seen');
    await observer.sendConfirmed('/queue/rpc.seen.warm-up', 'x');
    await stomp.sendConfirmed('/queue/rpc.seen', 'request', { 'reply-to': '/temp-queue/forged' });
    const name = (await seen.next()).headers['reply-to']!.replace(/^\/remote-temp-queue\//, '');
    assert.match(name, /^ID:/);
    const changed = Buffer.from(key.slice(`${REPLY_TO}.`.length), 'base64url');
    changed[0] = changed[0]! ^ 1;

    // the forger may publish to every reply key, but has no right on temporary destinations
    const forger = await amqplib.connect(`amqp://forger:forger-secret@127.0.0.1:${secure.amqpPort}`);
    const fch = await forger.createConfirmChannel();
    const returned = new Inbox<ConsumeMessage>('return');
    fch.on('return', (m: ConsumeMessage) => returned.push(m));
    for (const forged of [`${REPLY_TO}.${Buffer.from(name).toString('base64url')}`, `${REPLY_TO}.${changed.toString('base64url')}`]) {
      await new Promise<void>((resolve, reject) => fch.publish('', forged, Buffer.from(`forged ${forged}`), { mandatory: true }, (err) => (err ? reject(err) : resolve())));
      const back = await returned.next();
      assert.equal(back.fields.routingKey, forged);
      assert.equal((back.fields as unknown as { replyCode: number }).replyCode, 312);
    }
    // the key the request carried still works, and its reply is the first the requester gets
    wch.publish('', key, Buffer.from('genuine'));
    assert.equal((await replies.next()).body, 'genuine');
    await forger.close();
    await worker.close();
    await observer.disconnect();
    await stomp.disconnect();
  });
});
