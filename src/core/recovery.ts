import type { Store, StoreRecord } from '../store/index.js';
import type { BodyCache } from './body-cache.js';
import type { Logger } from './logger.js';
import type { Message } from './message.js';
import type { MessageQueue } from './message-queue.js';
import type { QueueEntry, StoredMessage } from './queue-entry.js';
import type { BindingSpec, ExchangeSpec } from './exchanges.js';
import { RecordType, decodeBinding, decodeExchange, decodeDeliveryMark, decodeDurableSubscription, decodePrepared, decodeQueue, decodeStoredMessage, type DurableSubscriptionRecord, type PreparedRecord, type QueueRecord } from './records.js';
import { RecoveredById, RecoveredReferences } from './recovery-references.js';

const CONSUMED: StoreRecord = { id: 0, type: 0, data: Buffer.alloc(0) };

/**
 * Recovery gives the event loop a turn this often (a power of two, less one): with a large backlog
 * it runs for seconds, and the HA lease must be renewed meanwhile. Nothing else acts on the broker
 * then: it accepts no connection before it runs, and its timers are held.
 */
const YIELD_EVERY = 0x7ff;
const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Each record of the array, let go once read: recovery's peak memory is the records or what they become, not both. */
function* consuming(records: StoreRecord[]): Generator<StoreRecord> {
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    records[i] = CONSUMED;
    yield record;
  }
}

/** A recovered message and its store bookkeeping in one object (one per waiting message, so it counts). */
interface HeldMessage extends StoredMessage {
  readonly message: Message;
}

/** What recovery rebuilds; the broker implements it. */
export interface RecoveryTarget {
  /** A queue destination, with its declared spec when it has one. */
  recoverQueue(recordId: number, record: QueueRecord): MessageQueue;
  recoverExchange(recordId: number, spec: ExchangeSpec): void;
  /** Called after every queue and exchange is back. */
  recoverBinding(recordId: number, spec: BindingSpec): void;
  recoverDurable(recordId: number, subscription: DurableSubscriptionRecord): MessageQueue;
  recoverScheduled(recordId: number, data: Buffer): void;
  recoverDuplicateId(recordId: number, data: Buffer): void;
  recoverRetained(recordId: number, data: Buffer): void;
  recoverSequenceMark(recordId: number, data: Buffer): void;
  /** A prepared transaction, with the queue entries (by reference id) it acknowledges or rejects, taken out of their queues. */
  recoverPrepared(recordId: number, record: PreparedRecord, entries: ReadonlyMap<number, QueueEntry>): void;
}

/**
 * Rebuilds the broker from the store's live records (emptying `records` as it reads them): queues and durable subscriptions first, then
 * every waiting message in its queue's order with its delivery count. Records that nothing refers
 * to any more (a reference to a missing queue, a message with no reference) are deleted.
 */
export async function recoverState(target: RecoveryTarget, records: StoreRecord[] | Iterable<StoreRecord>, store: Store, bodies: BodyCache, logger: Logger): Promise<void> {
  const queuesById = new Map<number, MessageQueue>();
  const messages = new RecoveredById<HeldMessage>();
  const references = new RecoveredReferences();
  const marks: { id: number; queueId: number; seq: number }[] = [];
  const prepared: { id: number; record: PreparedRecord }[] = [];
  const bindings: { id: number; spec: BindingSpec }[] = [];
  let scheduled = 0;
  let i = 0;
  for (const record of Array.isArray(records) ? consuming(records) : records) {
    if ((i++ & YIELD_EVERY) === YIELD_EVERY) await yieldTurn();
    switch (record.type) {
      case RecordType.Queue:
        queuesById.set(record.id, target.recoverQueue(record.id, decodeQueue(record.data)));
        break;
      case RecordType.DurableSubscription: {
        queuesById.set(record.id, target.recoverDurable(record.id, decodeDurableSubscription(record.data)));
        break;
      }
      case RecordType.Message:
      case RecordType.StoredMessage: {
        const { message } = decodeStoredMessage(record.data, record.type);
        bodies.recovered(message, record.id);
        messages.add(record.id, { recordId: record.id, references: 0, message });
        break;
      }
      case RecordType.Reference:
        references.add(record.id, record.data);
        break;
      case RecordType.Scheduled:
        target.recoverScheduled(record.id, record.data);
        scheduled++;
        break;
      case RecordType.DuplicateId:
        target.recoverDuplicateId(record.id, record.data);
        break;
      case RecordType.Retained:
        target.recoverRetained(record.id, record.data);
        break;
      case RecordType.SequenceMark:
        target.recoverSequenceMark(record.id, record.data);
        break;
      case RecordType.Prepared:
        prepared.push({ id: record.id, record: decodePrepared(record.data) });
        break;
      case RecordType.Exchange:
        target.recoverExchange(record.id, decodeExchange(record.data));
        break;
      case RecordType.Binding:
        bindings.push({ id: record.id, spec: decodeBinding(record.data) });
        break;
      case RecordType.DeliveryMark:
        marks.push({ id: record.id, ...decodeDeliveryMark(record.data) });
        break;
      case RecordType.PagedMessage:
        store.delete(record.id);
        break;
      default:
        logger.warn({ event: 'store.unknown-record', type: record.type, id: record.id }, 'skipping a record of unknown type');
    }
  }
  for (const { id, spec } of bindings) target.recoverBinding(id, spec);
  let dangling = 0;
  const order = references.order();
  for (let k = 0; k < order.length; k++) {
    if ((k & YIELD_EVERY) === YIELD_EVERY) await yieldTurn();
    const i = order[k]!;
    const id = references.id(i);
    const queue = queuesById.get(references.queueId(i));
    const held = messages.get(references.messageRecordId(i));
    if (queue === undefined || held === undefined) {
      store.delete(id);
      dangling++;
      continue;
    }
    queue.recover(held.message, held, references.seq(i), references.deliveryCount(i), id);
  }
  // what a prepared transaction consumes is held by it, out of its queue, until it is completed
  if (prepared.length > 0) {
    const held = new Set(prepared.flatMap(({ record }) => [...record.acknowledged, ...record.rejected]));
    const entries = new Map<number, QueueEntry>();
    for (const queue of queuesById.values()) for (const entry of queue.takeRecovered(held)) entries.set(entry.referenceId, entry);
    for (const { id, record } of prepared) target.recoverPrepared(id, record, entries);
    logger.warn({ event: 'broker.prepared-transactions', count: prepared.length }, 'prepared transactions await their transaction manager\'s commit or rollback');
  }
  // a clean stop deletes the marks, so any left say the broker stopped without returning deliveries
  for (const mark of marks) {
    const queue = queuesById.get(mark.queueId);
    if (queue === undefined) store.delete(mark.id);
    else queue.recoverDeliveryMark(mark.id, mark.seq);
  }
  let orphans = 0;
  for (const held of messages.values()) {
    if (held.references === 0) {
      store.delete(held.recordId);
      bodies.released(held.message);
      orphans++;
    }
  }
  logger.info(
    { event: 'broker.recovered', queues: queuesById.size, messages: messages.size - orphans, references: references.length - dangling, scheduled },
    'recovered from the store',
  );
  if (dangling + orphans > 0) logger.warn({ event: 'store.orphans', dangling, orphans }, 'deleted records that nothing refers to');
}
