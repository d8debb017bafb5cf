/**
 * A refused frame behind persistent SENDs whose store sync is still pending: the RECEIPTs of those
 * SENDs go out first, in order, then the ERROR, then the close; nothing after the refused frame is
 * acted on. The store holds its syncs, so the SENDs are still unconfirmed when the refusal comes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startBroker } from '../helpers/broker.js';
import { HeldSyncStore } from '../helpers/held-sync-store.js';
import { encodeRaw, RawStompClient, uniqueName } from '../helpers/raw-stomp.js';

test('a refused SEND gets its ERROR after the RECEIPTs of the stored SENDs before it, and a SEND after it is not taken', async () => {
  const store = new HeldSyncStore();
  const broker = await startBroker({}, { store });
  try {
    const queue = `/queue/${uniqueName('refusal.order')}`;
    const { raw } = await RawStompClient.connected(broker.stompPort);
    store.hold();
    const taken = store.nextAppend();
    // one write: the broker reads every frame in one turn, the refused one while the sends before it wait on the store
    await raw.write(
      Buffer.concat([
        ...[1, 2, 3, 4, 5].map((n) => encodeRaw('SEND', { destination: queue, persistent: 'true', receipt: `r${n}` }, `plain-${n}`)),
        encodeRaw('SEND', { destination: queue, persistent: 'true', AMQ_SCHEDULED_DELAY: 'soon', receipt: 'r6' }, 'refused'),
        encodeRaw('SEND', { destination: queue, persistent: 'true', receipt: 'r7' }, 'after'),
      ]),
    );
    await taken;
    store.release();
    const frames = await raw.untilClosed();
    assert.deepEqual(
      frames.map((f) => `${f.command} ${f.headers.get('receipt-id') ?? ''}`),
      ['RECEIPT r1', 'RECEIPT r2', 'RECEIPT r3', 'RECEIPT r4', 'RECEIPT r5', 'ERROR r6'],
      'every stored SEND confirmed, then the ERROR of the refused one, then the close',
    );
    raw.destroy();

    const { raw: consumer } = await RawStompClient.connected(broker.stompPort);
    await consumer.send('SUBSCRIBE', { destination: queue, id: 's', ack: 'auto' });
    const bodies: string[] = [];
    for (let n = 0; n < 5; n++) bodies.push((await consumer.nextFrameOf('MESSAGE')).body.toString());
    await consumer.send('SEND', { destination: queue }, 'marker');
    bodies.push((await consumer.nextFrameOf('MESSAGE')).body.toString());
    assert.deepEqual(bodies, ['plain-1', 'plain-2', 'plain-3', 'plain-4', 'plain-5', 'marker'], 'the SEND after the refused one was not taken');
    consumer.destroy();
  } finally {
    store.release();
    await broker.stop();
  }
});

test('an ERROR also waits for the RECEIPT of a COMMIT before it whose sync is pending', async () => {
  const store = new HeldSyncStore();
  const broker = await startBroker({}, { store });
  try {
    const queue = `/queue/${uniqueName('refusal.commit')}`;
    const { raw } = await RawStompClient.connected(broker.stompPort);
    await raw.sendWithReceipt('BEGIN', { transaction: 't1' });
    await raw.send('SEND', { destination: queue, persistent: 'true', transaction: 't1' }, 'in-tx');
    store.hold();
    const taken = store.nextAppend();
    await raw.write(
      Buffer.concat([
        encodeRaw('COMMIT', { transaction: 't1', receipt: 'c1' }),
        // no such transaction: refused
        encodeRaw('COMMIT', { transaction: 't2', receipt: 'c2' }),
      ]),
    );
    await taken;
    store.release();
    const frames = await raw.untilClosed();
    assert.deepEqual(
      frames.map((f) => `${f.command} ${f.headers.get('receipt-id') ?? ''}`),
      ['RECEIPT c1', 'ERROR c2'],
    );
    raw.destroy();
  } finally {
    store.release();
    await broker.stop();
  }
});
