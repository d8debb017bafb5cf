/**
 * Messages acknowledged inside a transaction stay in flight, for operators, until it ends: its
 * rollback brings them back, so ActiveMQ counts them in flight and RabbitMQ unacknowledged until the
 * commit. The queue, its consumer, the consumer's connection and /metrics agree, and every count
 * adds up to what was enqueued and not dequeued, during the transaction and after its commit or
 * rollback. Real clients: @stomp/stompjs, amqplib and rhea.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Channel, ConsumeMessage } from 'amqplib';
import { connectAmqp, transactions } from '../helpers/amqp.js';
import { consumeInto, connect091 } from '../helpers/amqp091.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { ApiClient } from '../helpers/management.js';
import { subscribeConfirmed, uniqueName, withReceipt } from '../helpers/raw-stomp.js';
import { connectStomp } from '../helpers/stomp.js';

let broker: TestBroker;
let api: ApiClient;

before(async () => {
  broker = await startBroker();
  api = new ApiClient(broker.server.ports['http']!);
});

after(async () => {
  await broker.stop();
});

interface Counts {
  readonly depth: number;
  readonly inFlight: number;
  readonly dequeued: number;
  /** The consumer's in-flight deliveries, and its connection's, as the API lists them (-1: no consumer). */
  readonly consumer: number;
  readonly connection: number;
  /** ferry_destination_in_flight for the queue. */
  readonly gauge: number;
}

interface QueueItem {
  readonly depth: number;
  readonly inFlight: number;
  readonly enqueued: number;
  readonly dequeued: number;
}

/** What operators see of `queue`: its item, its consumer's and that one's connection's, and its gauge; they must add up. */
async function countsOf(queue: string): Promise<Counts> {
  const item = (await api.get<QueueItem>(`/api/v1/destinations/queue/${queue}`)).body;
  assert.equal(item.enqueued - item.dequeued, item.depth + item.inFlight, `every message of ${queue} not dequeued is waiting or in flight`);
  const consumers = (await api.get<{ items: { destination: string; connectionId: string; inFlight: number }[] }>('/api/v1/consumers')).body.items;
  const consumer = consumers.find((c) => c.destination === `queue://${queue}`);
  const connections = (await api.get<{ items: { id: string; inFlight: number }[] }>('/api/v1/connections')).body.items;
  const connection = connections.find((c) => c.id === consumer?.connectionId);
  const metrics = (await api.get('/metrics')).text;
  const line = metrics.split('\n').find((l) => l.startsWith(`ferry_destination_in_flight{kind="queue",name="${queue}"}`));
  return { depth: item.depth, inFlight: item.inFlight, dequeued: item.dequeued, consumer: consumer?.inFlight ?? -1, connection: connection?.inFlight ?? -1, gauge: Number(line?.split(' ').pop()) };
}

const FIVE = ['m1', 'm2', 'm3', 'm4', 'm5'];

/** Five delivered, three of them acknowledged in an open transaction: all five in flight. */
const DURING: Counts = { depth: 0, inFlight: 5, dequeued: 0, consumer: 5, connection: 5, gauge: 5 };
/** Committed: three dequeued, two still in flight. */
const COMMITTED: Counts = { depth: 0, inFlight: 2, dequeued: 3, consumer: 2, connection: 2, gauge: 2 };
/** Rolled back: all five in flight again (redelivered to the consumer, or waiting for it to take them back). */
const ROLLED_BACK = (c: Counts): number => c.depth + c.inFlight;
/** The consumer gone: what it held waits in the queue, nothing is in flight. */
const GONE = (depth: number, dequeued: number): Counts => ({ depth, inFlight: 0, dequeued, consumer: -1, connection: -1, gauge: 0 });

describe('STOMP', () => {
  for (const end of ['COMMIT', 'ABORT'] as const) {
    test(`three of five messages acknowledged in a transaction stay in flight until ${end}`, async () => {
      const q = uniqueName('txinflight.stomp');
      const c = await connectStomp(broker.stompPort);
      // a receipt comes once every frame before it is handled
      const barrier = (): Promise<void> => withReceipt(c, (receipt) => c.client.publish({ destination: `/queue/${uniqueName('barrier')}`, body: '', headers: receipt }));
      try {
        const inbox = await subscribeConfirmed(c, `/queue/${q}`, { ack: 'client-individual' });
        for (const body of FIVE) await c.sendConfirmed(`/queue/${q}`, body);
        const received = await inbox.take(5);
        const tx = c.client.begin();
        for (const m of received.slice(0, 3)) m.ack({ transaction: tx.id });
        await barrier();
        assert.deepEqual(await countsOf(q), DURING);
        if (end === 'COMMIT') {
          tx.commit();
          await barrier();
          assert.deepEqual(await countsOf(q), COMMITTED);
        } else {
          tx.abort();
          assert.deepEqual((await inbox.take(3)).map((m) => m.body), ['m1', 'm2', 'm3']);
          const after = await countsOf(q);
          assert.equal(ROLLED_BACK(after), 5);
          assert.equal(after.dequeued, 0);
        }
      } finally {
        await c.disconnect();
      }
      await waitForGone(q, end === 'COMMIT' ? GONE(2, 3) : GONE(5, 0));
    });
  }
});

describe('AMQP 0-9-1', () => {
  /** tx.select, tx.commit and tx.rollback through amqplib's channel rpc, which its typings leave out. */
  const tx = (ch: Channel, method: 'select' | 'commit' | 'rollback'): Promise<unknown> => {
    const id = { select: 10, commit: 20, rollback: 30 }[method];
    return (ch as unknown as { rpc(method: number, fields: object, expect: number): Promise<unknown> }).rpc((90 << 16) | id, {}, (90 << 16) | (id + 1));
  };

  for (const end of ['commit', 'rollback'] as const) {
    test(`three of five messages acknowledged in a transaction stay in flight until tx.${end}`, async () => {
      const q = uniqueName('txinflight.091');
      const connection = await connect091(broker.amqpPort);
      try {
        const ch = await connection.createChannel();
        await ch.assertQueue(q, { durable: false });
        for (const body of FIVE) ch.sendToQueue(q, Buffer.from(body));
        const { inbox } = await consumeInto(ch, q);
        const received: ConsumeMessage[] = await inbox.take(5);
        await tx(ch, 'select');
        for (const m of received.slice(0, 3)) ch.ack(m);
        // a round trip on the channel: the acknowledgements before it are handled
        await ch.checkQueue(q);
        assert.deepEqual(await countsOf(q), DURING);
        await tx(ch, end);
        if (end === 'commit') assert.deepEqual(await countsOf(q), COMMITTED);
        else {
          // RabbitMQ keeps the rolled-back acknowledgements' messages unacknowledged on the channel
          const after = await countsOf(q);
          assert.equal(ROLLED_BACK(after), 5);
          assert.equal(after.dequeued, 0);
        }
      } finally {
        await connection.close();
      }
      await waitForGone(q, end === 'commit' ? GONE(2, 3) : GONE(5, 0));
    });
  }
});

describe('AMQP 1.0', () => {
  for (const fail of [false, true]) {
    test(`three of five messages accepted in a transaction stay in flight until its discharge${fail ? ' with fail' : ''}`, async () => {
      const q = uniqueName('txinflight.amqp');
      const c = await connectAmqp(broker.amqpPort);
      try {
        const sender = await c.openSender(q);
        for (const body of FIVE) await c.send(sender, { body });
        const txs = await transactions(c);
        const { inbox } = await c.openReceiver({ source: q, autoaccept: false });
        const txnId = await txs.declare();
        const received = await inbox.take(5);
        for (const got of received.slice(0, 3)) txs.settle(got.delivery, txnId);
        // rhea writes a session's transfers before its dispositions: a settled send after them is the barrier
        await new Promise((resolve) => setImmediate(resolve));
        await c.send(await c.openSender(uniqueName('barrier')), { body: '' });
        assert.deepEqual(await countsOf(q), DURING);
        assert.deepEqual(await txs.discharge(txnId, fail), { state: 'accepted' });
        if (!fail) assert.deepEqual(await countsOf(q), COMMITTED);
        else {
          assert.deepEqual((await inbox.take(3)).map((g) => g.message.body), ['m1', 'm2', 'm3']);
          const after = await countsOf(q);
          assert.equal(ROLLED_BACK(after), 5);
          assert.equal(after.dequeued, 0);
        }
      } finally {
        await c.close();
      }
      await waitForGone(q, fail ? GONE(5, 0) : GONE(2, 3));
    });
  }
});

/** Once the client has gone, nothing of `queue` is in flight any more and the rest waits; within a time limit, as its close is handled after the client's. */
async function waitForGone(queue: string, expected: Counts): Promise<void> {
  const deadline = Date.now() + 5000;
  let counts = await countsOf(queue);
  while (counts.consumer !== -1 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    counts = await countsOf(queue);
  }
  assert.deepEqual(counts, expected);
}
