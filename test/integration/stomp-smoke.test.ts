import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectStomp } from '../helpers/stomp.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

test('a message sent to a queue with no consumer waits for one', async () => {
  const producer = await connectStomp(broker.stompPort);
  await producer.sendConfirmed('/queue/smoke', 'hello', { type: 'greeting' });
  await producer.disconnect();
  const consumer = await connectStomp(broker.stompPort);
  const inbox = consumer.subscribe('/queue/smoke');
  const message = await inbox.next();
  assert.equal(message.body, 'hello');
  assert.equal(message.headers['type'], 'greeting');
  assert.equal(message.headers['destination'], '/queue/smoke');
  await consumer.disconnect();
});
