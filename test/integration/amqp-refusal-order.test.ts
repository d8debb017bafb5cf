/**
 * A connection error (or a session error) behind transfers whose store sync is still pending: their
 * dispositions go out before the close (or the end). The store holds its syncs, so the transfers are
 * unsettled when the error comes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startBroker } from '../helpers/broker.js';
import { HeldSyncStore } from '../helpers/held-sync-store.js';
import { AMQP_HEADER, connectAmqp, encodeMessage, frame, frames, rawAmqp, readFrames, terminus } from '../helpers/amqp.js';
import { uniqueName } from '../helpers/raw-stomp.js';

async function errorBehindStoredTransfers(bad: Buffer, last: 'close' | 'end'): Promise<void> {
  const store = new HeldSyncStore();
  const broker = await startBroker({}, { store });
  try {
    const queue = uniqueName('amqp.refusal.order');
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(
      Buffer.concat([
        AMQP_HEADER,
        frame(frames.open({ container_id: 'refusal-order' })),
        frame(frames.begin({ next_outgoing_id: 0, incoming_window: 1000, outgoing_window: 1000 })),
        frame(frames.attach({ name: 'to-queue', handle: 0, role: false, target: terminus.target({ address: queue }).described(), initial_delivery_count: 0 })),
      ]),
    );
    // the broker's flow gives the link its credit
    for (let n = 8; !readFrames(await raw.waitFor(n)).some((f) => f.name === 'flow'); n = raw.received().length + 1);
    const before = raw.received().length;
    store.hold();
    const taken = store.nextAppend();
    const transfer = (handle: number, id: number, body: string): Buffer =>
      frame(frames.transfer({ handle, delivery_id: id, delivery_tag: Buffer.from(String(id)), message_format: 0, settled: false }), encodeMessage({ body, durable: true }));
    // one write: the broker reads every frame in one turn, the bad one while the transfers before it wait on the store
    raw.write(
      Buffer.concat([
        ...[0, 1, 2, 3, 4].map((id) => transfer(0, id, `plain-${id}`)),
        bad,
        transfer(0, 6, 'after'),
      ]),
    );
    await taken;
    store.release();
    if (last === 'close') await raw.closed;
    else for (let n = raw.received().length + 1; !readFrames(raw.received().subarray(before)).some((f) => f.name === 'end'); n = raw.received().length + 1) await raw.waitFor(n);
    const answer = readFrames(raw.received().subarray(before)).filter((f) => f.name !== 'flow' && f.name !== 'empty');
    const settled = new Set<number>();
    for (const f of answer.filter((f) => f.name === 'disposition')) {
      const first = f.fields['first'] as number;
      const last = (f.fields['last'] as number | null | undefined) ?? first;
      for (let id = first; id <= last; id++) settled.add(id);
    }
    assert.deepEqual([...settled].sort(), [0, 1, 2, 3, 4], 'every stored transfer settled');
    assert.equal(answer.at(-1)?.name, last, `the ${last} comes last: ${answer.map((f) => f.name).join(', ')}`);
    raw.socket.destroy();

    const client = await connectAmqp(broker.amqpPort);
    const { inbox } = await client.openReceiver(queue);
    const got = (await inbox.take(5)).map((m) => String(m.message.body));
    const sender = await client.openSender(queue);
    await client.send(sender, { body: 'marker', durable: true });
    got.push(...(await inbox.take(1)).map((m) => String(m.message.body)));
    assert.deepEqual(got, ['plain-0', 'plain-1', 'plain-2', 'plain-3', 'plain-4', 'marker'], 'the transfer after the error was not taken');
    await client.close();
  } finally {
    store.release();
    await broker.stop();
  }
}

test('AMQP 1.0: a connection error behind stored transfers closes the connection after their accepted dispositions, and a transfer after it is not taken', async () => {
  // no session on channel 3: a connection error
  await errorBehindStoredTransfers(frames.write_frame(frames.amqp_frame(3, frames.transfer({ handle: 0, delivery_id: 5, delivery_tag: Buffer.from('5'), message_format: 0, settled: false }), encodeMessage({ body: 'refused', durable: true }))), 'close');
});

test('AMQP 1.0: a session error behind stored transfers ends the session after their accepted dispositions, and a transfer after it is not taken', async () => {
  // no link is attached on handle 7: a session error [AMQP 2.7.4]
  await errorBehindStoredTransfers(frame(frames.transfer({ handle: 7, delivery_id: 5, delivery_tag: Buffer.from('5'), message_format: 0, settled: false }), encodeMessage({ body: 'refused', durable: true })), 'end');
});
