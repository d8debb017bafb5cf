import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startBroker } from '../helpers/broker.js';
import { HeldSyncStore } from '../helpers/held-sync-store.js';
import { RawStompClient, within } from '../helpers/raw-stomp.js';

/** A persistent SEND with a receipt, taken by the broker while `store` holds its syncs back. */
async function sendHeld(port: number, store: HeldSyncStore, destination: string, receipt: string, body: string): Promise<RawStompClient> {
  const { raw } = await RawStompClient.connected(port);
  store.hold();
  const taken = store.nextAppend();
  await raw.send('SEND', { destination, persistent: 'true', receipt }, body);
  await taken;
  return raw;
}

test('a stopping broker sends the RECEIPT of a persistent SEND it has taken once the store has it, before the connection closes, and stores the message once', async () => {
  const store = new HeldSyncStore();
  let broker = await startBroker({}, { store });
  try {
    // the broker takes the SEND and its store has not synced it when the stop begins
    const raw = await sendHeld(broker.stompPort, store, '/queue/stop.receipt', 'sent-1', 'once');
    const stopped = broker.server.stop();
    store.release();
    await stopped;
    await raw.closed;
    const receipt = await raw.nextFrame();
    assert.equal(receipt.command, 'RECEIPT', 'the receipt came before the close: the client has no reason to send again');
    assert.equal(receipt.headers.get('receipt-id'), 'sent-1');

    broker = await startBroker({}, { store });
    const { raw: consumer } = await RawStompClient.connected(broker.stompPort);
    await consumer.send('SUBSCRIBE', { destination: '/queue/stop.receipt', id: 's', ack: 'auto' });
    assert.equal((await consumer.nextFrameOf('MESSAGE')).body.toString(), 'once');
    await consumer.send('SEND', { destination: '/queue/stop.receipt', persistent: 'true' }, 'marker');
    assert.equal((await consumer.nextFrameOf('MESSAGE')).body.toString(), 'marker', 'one copy, then the marker');
    consumer.socket.destroy();
  } finally {
    store.release();
    await broker.server.stop();
  }
});

test('a stopping broker whose store does not write waits for it no longer than transport.stopTimeout', async () => {
  const store = new HeldSyncStore();
  const broker = await startBroker({ 'transport.stopTimeout': 200 }, { store });
  try {
    const raw = await sendHeld(broker.stompPort, store, '/queue/stop.stuck', 'stuck-1', 'stuck');
    await within(10_000, 'the stop', broker.server.stop());
    await raw.closed;
    assert.equal(raw.received.includes('RECEIPT'), false, 'no receipt for what the store never took');
  } finally {
    store.release();
    await broker.server.stop();
  }
});
