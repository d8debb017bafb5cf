/**
 * The bytes of core's store records, pinned. A broker that reads an older layout must go on reading
 * it, and a layout an older broker would misread must come with a new journal format and PostgreSQL
 * schema version, so that such a broker refuses the data instead of taking it for damage. When this
 * test fails, a record's bytes changed: if an older build could misread the new bytes, raise
 * FORMAT_VERSION (store/journal/format.ts) and SCHEMA_VERSION (store/postgres/schema.ts); either way,
 * check the older layouts still decode, then pin the new digest.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { buildMessage } from '../../src/core/message.js';
import {
  decodeDurableSubscription,
  decodeReference,
  decodeScheduled,
  decodeStoredMessage,
  encodeBinding,
  encodeDeliveryMark,
  encodeDuplicateId,
  encodeDurableSubscription,
  encodeExchange,
  encodePrepared,
  encodeQueue,
  encodeReference,
  encodeRetained,
  encodeScheduled,
  encodeSequenceCeiling,
  encodeSequenceMark,
  encodeStoredMessage,
  RecordType,
} from '../../src/core/records.js';
import { FORMAT_VERSION } from '../../src/store/journal/format.js';
import { SCHEMA_VERSION } from '../../src/store/postgres/schema.js';

/** The digest of the records below as this journal format and schema version write them. */
const PINNED = { format: FORMAT_VERSION, schema: SCHEMA_VERSION, digest: '2078cf135fc4478317a5fd91f44c897f7c212c3f86f3e6358687a0c4443cf490' };

function message(): ReturnType<typeof buildMessage> {
  return buildMessage(
    {
      destination: { kind: 'queue', name: 'orders' },
      body: Buffer.from('{"order":1}'),
      bodyKind: 'text',
      persistent: true,
      priority: 7,
      expiration: 1_900_000_000_000,
      timestamp: 1_800_000_000_000,
      correlationId: 'corr-1',
      replyTo: { kind: 'topic', name: 'replies' },
      type: 'order',
      groupId: 'g',
      groupSeq: 3,
      properties: new Map<string, string | number | boolean | bigint | Buffer | null>([
        ['s', 'text'],
        ['i', 42],
        ['d', 1.5],
        ['b', true],
        ['l', 9_007_199_254_740_993n],
        ['x', Buffer.from([1, 2, 3])],
        ['n', null],
      ]),
      propertyTypes: new Map([['i', 'int' as const], ['d', 'double' as const]]),
      originConnectionId: 'conn-1',
      originalDestination: { kind: 'queue', name: 'original' },
      exchange: 'ex',
      routingKey: 'k.1',
      userId: 'alice',
      native: { protocol: 'amqp091', bytes: Buffer.from([0x20, 0, 2]), exact: true },
      brokerProperties: new Map([['FerryFannedOut', true]]),
    },
    'ID:broker-1:1:1:1',
    1_800_000_000_000,
  );
}

/** One record of every type, with every optional part that changes its bytes. */
function records(): [number, Buffer][] {
  const stored = encodeStoredMessage(message());
  const spec = { name: 'q', durable: true, exclusive: false, autoDelete: true, arguments: { messageTtl: 0, expires: 5000, deadLetterExchange: '', deadLetterRoutingKey: 'dead', maxLength: 3, maxLengthBytes: 1024, overflow: 'reject-publish-dlx' as const, maxPriority: 5, singleActiveConsumer: true, deliveryLimit: 2 } };
  return [
    [RecordType.Queue, encodeQueue({ name: 'plain' })],
    [RecordType.Queue, encodeQueue({ name: 'q', spec })],
    [RecordType.DurableSubscription, encodeDurableSubscription({ clientId: 'c', name: 'n', topic: 't.>', selector: "a = 'b'", noLocal: true, selectorConvertsStrings: true, adapterData: 'q1', overlap: { group: 'g', rank: 1, tag: 2 }, share: { role: 'member', name: 's' }, maker: { username: 'alice', internal: false } })],
    [RecordType.DurableSubscription, encodeDurableSubscription({ clientId: 'c', name: 'n', topic: 't', selector: undefined, noLocal: false, selectorConvertsStrings: false, adapterData: undefined, overlap: undefined })],
    [RecordType.StoredMessage, stored],
    [RecordType.Reference, encodeReference({ queueId: 1, messageRecordId: 2, seq: 3, deliveryCount: 1, delayed: true, returns: 2, queueExpiry: 1_900_000_000_000 })],
    [RecordType.Reference, encodeReference({ queueId: 1, messageRecordId: 2, seq: 4, deliveryCount: 0, delayed: false, returns: 0, queueExpiry: 0 })],
    [RecordType.Scheduled, encodeScheduled({ message: stored, due: 1_800_000_005_000, remaining: 3, period: 1000, cron: '*/5 * * * *', fired: 2, persistent: false, jobId: 'ID:job-1' })],
    [RecordType.DuplicateId, encodeDuplicateId({ destination: 'orders', duplicateId: 'dup-1' })],
    [RecordType.DeliveryMark, encodeDeliveryMark({ queueId: 1, seq: 99 })],
    [RecordType.Retained, encodeRetained({ persistent: false, message: stored })],
    [RecordType.Prepared, encodePrepared({ xid: 'xid-1', sends: [stored], acknowledged: [5, 6], rejected: [7] })],
    [RecordType.Exchange, encodeExchange({ name: 'e', type: 'headers', durable: true, autoDelete: true, internal: true, alternateExchange: 'ae' })],
    [RecordType.Binding, encodeBinding({ source: 'e', destination: { kind: 'queue', name: 'q' }, routingKey: 'a.#', headers: { match: 'any', values: new Map<string, string | number | bigint | boolean | Buffer | null>([['s', '1'], ['n', 1]]) } })],
    [RecordType.SequenceMark, encodeSequenceMark({ key: 'openwire:ID:p-1', value: 12 })],
    [RecordType.SequenceCeiling, encodeSequenceCeiling(1_000)],
  ];
}

test('the bytes of every store record are those pinned for this journal format and schema version', () => {
  const hash = createHash('sha256');
  for (const [type, data] of records()) {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(type, 0);
    head.writeUInt32LE(data.length, 4);
    hash.update(head).update(data);
  }
  assert.deepEqual({ format: FORMAT_VERSION, schema: SCHEMA_VERSION, digest: hash.digest('hex') }, PINNED, 'a store record\'s bytes changed: see the comment at the top of this file');
});

test('the pinned records decode back to what was written', () => {
  const all = records();
  const stored = decodeStoredMessage(all.find(([type]) => type === RecordType.StoredMessage)![1], RecordType.StoredMessage).message;
  const original = message();
  assert.deepEqual(
    [stored.id, stored.destination, stored.priority, stored.expiration, stored.correlationId, stored.groupSeq, stored.userId, [...stored.properties.entries()]],
    [original.id, original.destination, original.priority, original.expiration, original.correlationId, original.groupSeq, original.userId, [...original.properties.entries()]],
  );
  const [full, bare] = all.filter(([type]) => type === RecordType.Reference).map(([, data]) => decodeReference(data));
  assert.deepEqual(full, { queueId: 1, messageRecordId: 2, seq: 3, deliveryCount: 1, delayed: true, returns: 2, queueExpiry: 1_900_000_000_000 });
  assert.deepEqual(bare, { queueId: 1, messageRecordId: 2, seq: 4, deliveryCount: 0, delayed: false, returns: 0, queueExpiry: 0 });
  const scheduled = decodeScheduled(all.find(([type]) => type === RecordType.Scheduled)![1]);
  assert.deepEqual([scheduled.due, scheduled.remaining, scheduled.cron, scheduled.fired, scheduled.persistent, scheduled.jobId], [1_800_000_005_000, 3, '*/5 * * * *', 2, false, 'ID:job-1']);
  const subscription = decodeDurableSubscription(all.find(([type]) => type === RecordType.DurableSubscription)![1]);
  assert.deepEqual([subscription.selectorConvertsStrings, subscription.share, subscription.maker], [true, { role: 'member', name: 's' }, { username: 'alice', internal: false }]);
});
