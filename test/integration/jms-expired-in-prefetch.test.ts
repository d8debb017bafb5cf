/**
 * Messages that expire in a JMS consumer's prefetch: ActiveMQ's client drops them and acknowledges
 * each as expired, and the queue counts them as expired and sends them where its expiry policy says,
 * as it does with those it finds expired itself. Real client: ActiveMQ's JMS client.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { jmsCheck, jmsMissing, one } from '../helpers/jms.js';
import { ApiClient } from '../helpers/management.js';

let broker: TestBroker;
let api: ApiClient;

before(async () => {
  broker = await startBroker({
    'destinations.policies': [
      { match: 'prefetch.kept', deadLetterQueue: 'prefetch.kept.dlq' },
      { match: 'prefetch.dropped', deadLetterQueue: 'prefetch.dropped.dlq', expiredToDeadLetter: false },
    ],
  });
  api = new ApiClient(broker.server.ports['http']!);
});

after(async () => {
  await broker.stop();
});

interface QueueItem {
  readonly depth: number;
  readonly inFlight: number;
  readonly enqueued: number;
  readonly dequeued: number;
  readonly expired: number;
  readonly deadLettered: number;
}

const queueItem = async (name: string): Promise<QueueItem | undefined> => {
  const answer = await api.get<QueueItem>(`/api/v1/destinations/queue/${name}`);
  return answer.status === 200 ? answer.body : undefined;
};

const counts = ({ depth, inFlight, enqueued, dequeued, expired, deadLettered }: QueueItem): QueueItem => ({ depth, inFlight, enqueued, dequeued, expired, deadLettered });

const scrape = async (): Promise<string> => (await api.get('/metrics')).text;

const sample = (metrics: string, name: string, queue: string): number | undefined => {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{kind="queue",name="${queue}"}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
};

for (const [queue, toDeadLetter] of [
  ['prefetch.kept', true],
  ['prefetch.dropped', false],
] as const) {
  test(`expiredToDeadLetter ${toDeadLetter}: messages that expire in a JMS consumer's prefetch count as expired, not dead-lettered, and ${toDeadLetter ? 'the persistent ones go' : 'none goes'} to the dead-letter queue`, { skip: jmsMissing(), timeout: 60_000 }, async () => {
    const result = await jmsCheck(`tcp://127.0.0.1:${broker.ports['openwire']}`, 'expire-in-prefetch', queue, '3', '500');
    assert.equal(one(result, 'received'), 'null');
    assert.deepEqual(counts((await queueItem(queue))!), { depth: 0, inFlight: 0, enqueued: 4, dequeued: 4, expired: 4, deadLettered: 0 });
    const metrics = await scrape();
    assert.equal(sample(metrics, 'ferry_destination_expired_total', queue), 4);
    assert.equal(sample(metrics, 'ferry_destination_dead_lettered_total', queue), 0);

    const dlq = `${queue}.dlq`;
    const dead = await queueItem(dlq);
    if (!toDeadLetter) {
      assert.equal(dead?.depth ?? 0, 0);
      return;
    }
    // the non-persistent one is dropped, as a dead letter of a non-persistent message is by default
    assert.equal(dead?.depth, 3);
    const page = await api.get<{ items: { id: string }[] }>(`/api/v1/queues/${dlq}/messages`);
    assert.equal(page.body.items.length, 3);
    for (const { id } of page.body.items) {
      const message = await api.get<{ properties: { name: string; value: unknown }[] }>(`/api/v1/queues/${dlq}/messages/${encodeURIComponent(id)}`);
      assert.deepEqual(
        message.body.properties.find((p) => p.name === 'dlqDeliveryFailureCause'),
        { name: 'dlqDeliveryFailureCause', type: 'string', value: 'expired' },
      );
    }
  });
}
