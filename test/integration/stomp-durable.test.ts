import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { IMessage } from '@stomp/stompjs';
import { MemoryStore } from '../../src/store/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';
import { RawStompClient, subscribeConfirmed, uniqueName, withReceipt, within } from '../helpers/raw-stomp.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

const clients: StompTestClient[] = [];
async function client(clientId?: string, port = broker.stompPort): Promise<StompTestClient> {
  const c = await connectStomp(port, clientId === undefined ? {} : { headers: { 'client-id': clientId } });
  clients.push(c);
  return c;
}
after(async () => {
  await Promise.all(clients.map((c) => c.disconnect()));
});

function bodies(messages: IMessage[]): string[] {
  return messages.map((m) => m.body);
}

function durable(name: string, headers: Record<string, string> = {}): Record<string, string> {
  return { 'activemq.subscriptionName': name, ...headers };
}

describe('durable topic subscriptions', () => {
  test('messages sent while the subscriber is away, persistent or not, wait for its return', async () => {
    const topic = `/topic/${uniqueName('durable')}`;
    const clientId = uniqueName('cid');
    const subscriber = await client(clientId);
    const live = await subscribeConfirmed(subscriber, topic, durable('sub-1'));
    const producer = await client();
    await producer.sendConfirmed(topic, 'while connected');
    assert.equal((await live.next()).body, 'while connected');
    await subscriber.disconnect();

    for (let i = 1; i <= 3; i++) {
      await producer.sendConfirmed(topic, `persistent ${i}`, { persistent: 'true' });
      await producer.sendConfirmed(topic, `transient ${i}`);
    }

    const back = await client(clientId);
    const inbox = back.subscribe(topic, durable('sub-1'));
    const received = await inbox.take(6);
    assert.deepEqual(bodies(received), ['persistent 1', 'transient 1', 'persistent 2', 'transient 2', 'persistent 3', 'transient 3']);
    assert.deepEqual(received.map((m) => m.headers['persistent']), ['true', undefined, 'true', undefined, 'true', undefined]);
    for (const m of received) assert.equal(m.headers['destination'], topic);
  });

  test('a non-durable subscriber of the same topic keeps nothing while away', async () => {
    const topic = `/topic/${uniqueName('durable-vs-plain')}`;
    const clientId = uniqueName('cid');
    const durableSide = await client(clientId);
    const plainSide = await client();
    await subscribeConfirmed(durableSide, topic, durable('kept'));
    await subscribeConfirmed(plainSide, topic);
    await durableSide.disconnect();
    await plainSide.disconnect();
    const producer = await client();
    await producer.sendConfirmed(topic, 'while away', { persistent: 'true' });

    const plainAgain = await client();
    const plainInbox = await subscribeConfirmed(plainAgain, topic);
    const durableAgain = await client(clientId);
    const durableInbox = durableAgain.subscribe(topic, durable('kept'));
    assert.equal((await durableInbox.next()).body, 'while away');
    await producer.sendConfirmed(topic, 'marker');
    assert.equal((await plainInbox.next()).body, 'marker');
  });

  test('unacknowledged messages of a durable subscriber come back, redelivered, when it returns', async () => {
    const topic = `/topic/${uniqueName('durable-unacked')}`;
    const clientId = uniqueName('cid');
    const first = await client(clientId);
    const inbox = await subscribeConfirmed(first, topic, durable('acks', { ack: 'client-individual' }));
    const producer = await client();
    for (const body of ['m1', 'm2', 'm3']) await producer.sendConfirmed(topic, body, { persistent: 'true' });
    const got = await inbox.take(3);
    await withReceipt(first, (headers) => got[1]!.ack(headers));
    await first.disconnect();

    const back = await client(clientId);
    const again = back.subscribe(topic, durable('acks', { ack: 'client-individual' }));
    const redelivered = await again.take(2);
    assert.deepEqual(bodies(redelivered), ['m1', 'm3']);
    for (const m of redelivered) assert.equal(m.headers['redelivered'], 'true');
  });

  test('two client ids with the same subscription name are two subscriptions', async () => {
    const topic = `/topic/${uniqueName('durable-two')}`;
    const idA = uniqueName('cid-a');
    const idB = uniqueName('cid-b');
    const a = await client(idA);
    const b = await client(idB);
    await subscribeConfirmed(a, topic, durable('same-name'));
    await subscribeConfirmed(b, topic, durable('same-name'));
    await a.disconnect();
    await b.disconnect();
    const producer = await client();
    await producer.sendConfirmed(topic, 'for both');
    for (const id of [idA, idB]) {
      const c = await client(id);
      assert.equal((await c.subscribe(topic, durable('same-name')).next()).body, 'for both');
      await c.disconnect();
    }
  });

  test('a durable subscription on a wildcard topic keeps what matches', async () => {
    const root = uniqueName('durable-wild');
    const clientId = uniqueName('cid');
    const c = await client(clientId);
    await subscribeConfirmed(c, `/topic/${root}.>`, durable('wild'));
    await c.disconnect();
    const producer = await client();
    await producer.sendConfirmed(`/topic/${root}.a`, 'a');
    await producer.sendConfirmed(`/topic/other.${root}`, 'no');
    await producer.sendConfirmed(`/topic/${root}.a.b`, 'a.b');
    const back = await client(clientId);
    const received = await back.subscribe(`/topic/${root}.>`, durable('wild')).take(2);
    assert.deepEqual(bodies(received), ['a', 'a.b']);
    assert.equal(received[1]?.headers['destination'], `/topic/${root}.a.b`);
  });

  test('subscribing under the same name to another topic replaces the subscription', async () => {
    const oldTopic = `/topic/${uniqueName('durable-old')}`;
    const newTopic = `/topic/${uniqueName('durable-new')}`;
    const clientId = uniqueName('cid');
    const c = await client(clientId);
    await subscribeConfirmed(c, oldTopic, durable('moving'));
    await c.disconnect();
    const producer = await client();
    await producer.sendConfirmed(oldTopic, 'old');
    const back = await client(clientId);
    const inbox = await subscribeConfirmed(back, newTopic, durable('moving'));
    await producer.sendConfirmed(oldTopic, 'old again');
    await producer.sendConfirmed(newTopic, 'new');
    assert.equal((await inbox.next()).body, 'new');
  });
});

describe('removing durable subscriptions', () => {
  test('UNSUBSCRIBE with activemq.subscriptionName removes it: later messages are not kept', async () => {
    const topic = `/topic/${uniqueName('durable-remove')}`;
    const clientId = uniqueName('cid');
    const c = await client(clientId);
    const inbox = await subscribeConfirmed(c, topic, durable('gone'));
    await withReceipt(c, (headers) => inbox.subscription.unsubscribe({ ...headers, 'activemq.subscriptionName': 'gone' }));
    await c.disconnect();
    const producer = await client();
    await producer.sendConfirmed(topic, 'nobody keeps this', { persistent: 'true' });

    const back = await client(clientId);
    const again = await subscribeConfirmed(back, topic, durable('gone'));
    await producer.sendConfirmed(topic, 'marker');
    assert.equal((await again.next()).body, 'marker');
  });

  test('UNSUBSCRIBE by id alone only stops the subscriber; the subscription keeps messages', async () => {
    const topic = `/topic/${uniqueName('durable-deactivate')}`;
    const clientId = uniqueName('cid');
    const c = await client(clientId);
    const inbox = await subscribeConfirmed(c, topic, durable('paused'));
    await withReceipt(c, (headers) => inbox.subscription.unsubscribe(headers));
    const producer = await client();
    await producer.sendConfirmed(topic, 'kept while paused');
    await inbox.expectNothing(100);
    const again = c.subscribe(topic, durable('paused'));
    assert.equal((await again.next()).body, 'kept while paused');
  });

  test('a removed subscription’s waiting messages are dropped', async () => {
    const topic = `/topic/${uniqueName('durable-drop')}`;
    const clientId = uniqueName('cid');
    const c = await client(clientId);
    await subscribeConfirmed(c, topic, durable('drop'));
    await c.disconnect();
    const producer = await client();
    await producer.sendConfirmed(topic, 'waiting', { persistent: 'true' });

    const remover = await client(clientId);
    await withReceipt(remover, (headers) => remover.client.unsubscribe('no-such-id', { ...headers, 'activemq.subscriptionName': 'drop' }));
    const again = await subscribeConfirmed(remover, topic, durable('drop'));
    await producer.sendConfirmed(topic, 'marker');
    assert.equal((await again.next()).body, 'marker');
  });
});

describe('durable subscription errors', () => {
  test('a second connection with a client-id in use is refused; the first carries on', async () => {
    const clientId = uniqueName('cid');
    const topic = `/topic/${uniqueName('durable-cid')}`;
    const first = await client(clientId);
    const inbox = await subscribeConfirmed(first, topic, durable('one'));
    const raw = await RawStompClient.open(broker.stompPort);
    await raw.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', 'client-id': clientId });
    const frames = await raw.untilClosed();
    assert.equal(frames.length, 1);
    assert.equal(frames[0]?.command, 'ERROR');
    assert.equal(frames[0]?.headers.get('code'), 'FERRY_CLIENT_ID_IN_USE');
    assert.ok((frames[0]?.headers.get('message') ?? '').includes(clientId));
    await first.sendConfirmed(topic, 'still mine');
    assert.equal((await inbox.next()).body, 'still mine');
  });

  test('a CONNECT with ferry.take-over: true takes the client-id over: the older connection hears an ERROR and closes, the newer resumes its durable subscription', async () => {
    const clientId = uniqueName('cid');
    const topic = `/topic/${uniqueName('durable-takeover')}`;
    const { raw: first } = await RawStompClient.connected(broker.stompPort, { 'client-id': clientId });
    await first.sendWithReceipt('SUBSCRIBE', { id: 's1', destination: topic, 'activemq.subscriptionName': 'kept' });
    const second = await connectStomp(broker.stompPort, { headers: { 'client-id': clientId, 'ferry.take-over': 'true' } });
    clients.push(second);
    const frames = await first.untilClosed();
    assert.equal(frames.at(-1)?.command, 'ERROR');
    assert.equal(frames.at(-1)?.headers.get('code'), 'FERRY_CLIENT_ID_IN_USE');
    const inbox = await subscribeConfirmed(second, topic, durable('kept'));
    await second.sendConfirmed(topic, 'to the newer one');
    assert.equal((await inbox.next()).body, 'to the newer one');
  });

  test('the client-id is free again once its connection has gone', async () => {
    const clientId = uniqueName('cid');
    const first = await client(clientId);
    await first.disconnect();
    const second = await client(clientId);
    assert.equal(second.connected.command, 'CONNECTED');
  });

  test('the same durable subscription active twice is refused', async () => {
    const clientId = uniqueName('cid');
    const topic = `/topic/${uniqueName('durable-twice')}`;
    const c = await client(clientId);
    await subscribeConfirmed(c, topic, durable('twice'));
    c.subscribe(topic, durable('twice'));
    await within(3000, 'close after a second subscriber of one durable subscription', c.closed);
    assert.equal(c.errors[0]?.headers['code'], 'FERRY_CONSUMER_EXISTS');
  });

  test('a durable subscription needs a client-id on CONNECT', async () => {
    const c = await client();
    c.subscribe(`/topic/${uniqueName('durable-no-cid')}`, durable('orphan'));
    await within(3000, 'close after a durable subscription without client-id', c.closed);
    assert.equal(c.errors[0]?.command, 'ERROR');
    assert.ok((c.errors[0]?.headers['message'] ?? '').includes('client'));
  });

  test('a durable subscription on a queue is refused', async () => {
    const c = await client(uniqueName('cid'));
    c.subscribe(`/queue/${uniqueName('durable-queue')}`, durable('queue-sub'));
    await within(3000, 'close after a durable subscription on a queue', c.closed);
    assert.equal(c.errors[0]?.headers['code'], 'FERRY_DESTINATION_INVALID');
  });
});

describe('durable subscriptions across a broker restart', () => {
  test('persistent messages kept for an absent subscriber survive a restart; non-persistent ones do not', async () => {
    const store = new MemoryStore();
    const topic = `/topic/${uniqueName('durable-restart')}`;
    const q = `/queue/${uniqueName('durable-restart')}`;
    const clientId = uniqueName('cid');
    let restartable = await startBroker({}, { store });
    try {
      const sub = await client(clientId, restartable.stompPort);
      const inbox = await subscribeConfirmed(sub, topic, durable('restart', { ack: 'client' }));
      const producer = await client(undefined, restartable.stompPort);
      await producer.sendConfirmed(topic, 'delivered, not acked', { persistent: 'true' });
      assert.equal((await inbox.next()).body, 'delivered, not acked');
      await sub.disconnect();
      await producer.sendConfirmed(topic, 'persistent', { persistent: 'true' });
      await producer.sendConfirmed(topic, 'transient');
      await producer.sendConfirmed(q, 'queued', { persistent: 'true' });
      await restartable.stop();

      restartable = await startBroker({}, { store });
      const back = await client(clientId, restartable.stompPort);
      const again = back.subscribe(topic, durable('restart'));
      const received = await again.take(2);
      assert.deepEqual(bodies(received), ['delivered, not acked', 'persistent']);
      assert.equal(received[0]?.headers['redelivered'], 'true');
      assert.equal(received[1]?.headers['persistent'], 'true');
      const producer2 = await client(undefined, restartable.stompPort);
      await producer2.sendConfirmed(topic, 'marker');
      assert.equal((await again.next()).body, 'marker');
      assert.equal((await back.subscribe(q).next()).body, 'queued');
    } finally {
      await restartable.stop();
    }
  });

  test('a persistent message keeps its id and headers across a restart', async () => {
    const store = new MemoryStore();
    const q = `/queue/${uniqueName('restart-headers')}`;
    const headers = {
      persistent: 'true',
      priority: '8',
      expires: String(Date.now() + 3_600_000),
      'correlation-id': 'corr:1',
      'reply-to': '/queue/replies.here',
      type: 'kind',
      custom: 'värde',
    };
    let restartable = await startBroker({}, { store });
    try {
      const first = await client(undefined, restartable.stompPort);
      const inbox = await subscribeConfirmed(first, q, { ack: 'client' });
      await withReceipt(first, (receipt) => first.client.publish({ destination: q, binaryBody: new Uint8Array([1, 0, 2]), headers: { ...headers, ...receipt } }));
      const before = await inbox.next();
      await restartable.stop();

      restartable = await startBroker({}, { store });
      const second = await client(undefined, restartable.stompPort);
      const after = await second.subscribe(q).next();
      for (const name of ['message-id', 'timestamp', 'destination', 'content-length', ...Object.keys(headers)]) {
        assert.equal(after.headers[name], before.headers[name], `header ${name}`);
      }
      assert.equal(after.headers['redelivered'], 'true');
      assert.deepEqual([...after.binaryBody], [1, 0, 2]);
    } finally {
      await restartable.stop();
    }
  });
});
