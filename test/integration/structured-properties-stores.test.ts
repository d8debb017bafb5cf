import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Broker, type Message, type PropertyValue, type PropertyWireType } from '../../src/core/index.js';
import { JournalStore, PostgresStore, type Store } from '../../src/store/index.js';
import { startPostgres } from '../helpers/postgres.js';

// A map or list property (kept as its producing protocol's bytes, typed `map` or `list`) and a text
// that is null rather than empty are part of core's message: each store keeps them across a restart,
// also for the copies a composite destination makes.

const cluster = await startPostgres();
if (typeof cluster !== 'string') after(() => cluster.stop());

const properties = new Map<string, PropertyValue>([
  ['pMap', Buffer.from([0, 0, 0, 1, 0, 1, 0x78, 5, 0, 0, 0, 1])],
  ['pList', Buffer.from([0, 0, 0, 1, 9, 0, 1, 0x70])],
  ['pInt', 5],
]);
const propertyTypes = new Map<string, PropertyWireType>([
  ['pMap', 'map'],
  ['pList', 'list'],
]);

/** The one message waiting in `queue`, as a consumer is handed it. */
async function take(broker: Broker, queue: string): Promise<Message> {
  const connection = await broker.connect({ protocol: 'test', transport: { remoteAddress: 'here' } });
  return new Promise((resolve) => {
    const session = connection.createSession();
    const consumer = session.subscribe({
      destination: { kind: 'queue', name: queue },
      ackMode: 'individual',
      prefetch: 1,
      sink: {
        deliver: (delivery) => {
          consumer.acknowledge(delivery.tag);
          resolve(delivery.message);
        },
        isWritable: () => true,
        onWritable: () => {},
      },
    });
  });
}

async function keptAcrossRestart(open: () => Store): Promise<void> {
  const first = new Broker({ store: open() });
  await first.start();
  const session = (await first.connect({ protocol: 'test', transport: { remoteAddress: 'here' } })).createSession();
  await session.send({ destination: { kind: 'queue', name: 'queue://sa,queue://sb' }, body: Buffer.alloc(0), bodyKind: 'text', nullBody: true, persistent: true, properties, propertyTypes });
  await first.stop();
  const second = new Broker({ store: open() });
  await second.start();
  try {
    for (const queue of ['sa', 'sb']) {
      const message = await take(second, queue);
      assert.deepEqual([message.nullBody, message.body.length, message.properties, message.propertyTypes], [true, 0, properties, propertyTypes], queue);
    }
  } finally {
    await second.stop();
  }
}

test('the journal keeps map and list properties and a null text across a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-structured-'));
  await keptAcrossRestart(() => new JournalStore({ dir, compactInterval: 0 }));
});

test('the PostgreSQL store keeps map and list properties and a null text across a restart', { skip: typeof cluster === 'string' ? cluster : false }, async () => {
  if (typeof cluster === 'string') return;
  const url = await cluster.createDatabase();
  await keptAcrossRestart(() => new PostgresStore({ url }));
});
