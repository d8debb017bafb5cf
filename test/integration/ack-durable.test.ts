import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from '../../src/store/index.js';
import { startBroker } from '../helpers/broker.js';
import { connectStomp } from '../helpers/stomp.js';

/**
 * An acknowledgement is confirmed only once it is on disk: a STOMP ACK's or NACK's RECEIPT waits
 * for the store's write of the delete, as a SEND's RECEIPT waits for the write of the message, so a
 * crash after the receipt can no longer bring the message back.
 */

/** A store whose syncs the test holds: while held, a sync resolves only when the test lets it. */
class HeldStore extends MemoryStore {
  held = false;
  /** Every record deleted, in order: an acknowledgement's delete lands here synchronously. */
  readonly deleted: number[] = [];
  private readonly waiting: (() => void)[] = [];
  private onDelete: (() => void) | undefined;
  private onSync: (() => void) | undefined;

  override delete(id: number, txId?: number): void {
    super.delete(id, txId);
    if (txId === undefined) this.deleted.push(id);
    this.onDelete?.();
  }

  override sync(): Promise<void> {
    const synced = super.sync();
    if (!this.held) return synced;
    const promise = new Promise<void>((resolve) => this.waiting.push(() => void synced.then(resolve)));
    this.onSync?.();
    return promise;
  }

  /** Resolves once `count` records have been deleted. */
  async deletes(count: number): Promise<void> {
    while (this.deleted.length < count) await new Promise<void>((resolve) => (this.onDelete = resolve));
  }

  /** Resolves once a sync is being held. */
  async syncHeld(): Promise<void> {
    while (this.waiting.length === 0) await new Promise<void>((resolve) => (this.onSync = resolve));
  }

  /** Lets every held sync complete. */
  release(): void {
    this.held = false;
    for (const done of this.waiting.splice(0)) done();
  }
}

for (const command of ['ACK', 'NACK'] as const) {
  test(`a STOMP ${command}'s receipt comes only after the store has written the acknowledgement`, async (t) => {
    const store = new HeldStore();
    const broker = await startBroker({}, { store });
    t.after(() => broker.stop());
    const producer = await connectStomp(broker.stompPort);
    await producer.sendConfirmed('/queue/ack.durable', 'one', { persistent: 'true' });
    const consumer = await connectStomp(broker.stompPort, { version: '1.2' });
    const inbox = consumer.subscribe('/queue/ack.durable', { ack: 'client-individual' });
    const message = await inbox.next();

    const events: string[] = [];
    store.held = true;
    const before = store.deleted.length;
    const receipted = new Promise<void>((resolve) =>
      consumer.client.watchForReceipt('ack-1', () => {
        events.push('receipt');
        resolve();
      }),
    );
    if (command === 'ACK') message.ack({ receipt: 'ack-1' });
    else message.nack({ receipt: 'ack-1' });
    // the broker has taken the acknowledgement off the queue (an ACK's delete is appended on its own;
    // a NACK's move to the dead-letter queue is one store transaction) and waits for its sync
    if (command === 'ACK') await store.deletes(before + 1);
    await store.syncHeld();
    // two round trips on another connection: a receipt written with the acknowledgement would be here by now
    await producer.sendConfirmed('/queue/ack.other', 'ping');
    await producer.sendConfirmed('/queue/ack.other', 'ping');
    assert.equal(events.length, 0, 'no receipt while the write is held');

    events.push('written');
    store.release();
    await receipted;
    assert.deepEqual(events, ['written', 'receipt']);
    await consumer.disconnect();
    await producer.disconnect();
  });
}

test('an ACK without a receipt does not wait for the store, and the next message follows it', async (t) => {
  const store = new HeldStore();
  const broker = await startBroker({}, { store });
  t.after(() => broker.stop());
  const producer = await connectStomp(broker.stompPort);
  await producer.sendConfirmed('/queue/ack.plain', 'one', { persistent: 'true' });
  await producer.sendConfirmed('/queue/ack.plain', 'two', { persistent: 'true' });
  const consumer = await connectStomp(broker.stompPort, { version: '1.2' });
  const inbox = consumer.subscribe('/queue/ack.plain', { ack: 'client-individual', 'activemq.prefetchSize': '1' });
  const first = await inbox.next();
  assert.equal(first.body, 'one');
  store.held = true;
  first.ack();
  // with a prefetch of one, the second message comes only once the first is acknowledged
  assert.equal((await inbox.next()).body, 'two');
  store.release();
  await consumer.disconnect();
  await producer.disconnect();
});
