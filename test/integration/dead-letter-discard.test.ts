import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectStomp } from '../helpers/stomp.js';
import { eventually, subscribeConfirmed, uniqueName, withReceipt } from '../helpers/raw-stomp.js';

// A message that fails inside a dead-letter queue has nowhere left to go and is dropped, as in
// ActiveMQ; the broker's log is the only trace of it, so it says so at warn with the message's id.

let broker: TestBroker;
const logLines: Record<string, unknown>[] = [];
before(async () => {
  broker = await startBroker({}, { logLines });
});
after(async () => {
  await broker.stop();
});

test('a message rejected in the dead-letter queue is discarded with a warning naming it and the queue', async () => {
  const q = `/queue/${uniqueName('dlq-discard')}`;
  const tag = uniqueName('tag');
  const c = await connectStomp(broker.stompPort);
  try {
    const inbox = await subscribeConfirmed(c, q, { ack: 'client-individual' });
    await c.sendConfirmed(q, 'poison', { persistent: 'true', tag });
    const m = await inbox.next();
    await withReceipt(c, (headers) => m.nack(headers));
    const dlq = await subscribeConfirmed(c, '/queue/ActiveMQ.DLQ', { ack: 'client-individual', selector: `tag = '${tag}'` });
    const dead = await dlq.next();
    assert.equal(dead.body, 'poison');
    await withReceipt(c, (headers) => dead.nack(headers));
    const discarded = (): Record<string, unknown> | undefined => logLines.find((l) => l['event'] === 'message.discarded' && l['queue'] === 'ActiveMQ.DLQ');
    await eventually('a warning for the discarded message', () => discarded() !== undefined);
    const line = discarded()!;
    assert.equal(line['level'], 40, 'logged at warn');
    assert.equal(line['messageId'], dead.headers['message-id']);
    assert.match(String(line['msg']), /ActiveMQ\.DLQ/);
    assert.equal(broker.server.broker.admin.destination('queue', 'ActiveMQ.DLQ').depth, 0, 'nothing is left of it');
  } finally {
    await c.disconnect();
  }
});
