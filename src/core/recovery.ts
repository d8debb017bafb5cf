import type { Store, StoreRecord } from '../store/index.js';
import type { BodyCache } from './body-cache.js';
import type { Logger } from './logger.js';
import type { Message } from './message.js';
import type { MessageQueue } from './message-queue.js';
import type { QueueEntry, StoredMessage } from './queue-entry.js';
import type { BindingSpec, ExchangeSpec } from './exchanges.js';
import { RecordType, decodeBinding, decodeExchange, decodeDeliveryMark, decodeDurableSubscription, decodePrepared, decodeQueue, decodeStoredMessage, type DurableSubscriptionRecord, type PreparedRecord, type QueueRecord } from './records.js';
import { RecoveredMessages, RecoveredReferences } from './recovery-references.js';
import { UnplacedRecords } from './unplaced-records.js';

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
  recoverDurable(recordId: number, subscription: DurableSubscriptionRecord): MessageQueue | undefined;
  recoverScheduled(recordId: number, data: Buffer): void;
  recoverDuplicateId(recordId: number, data: Buffer): void;
  recoverRetained(recordId: number, data: Buffer): void;
  recoverSequenceMark(recordId: number, data: Buffer): void;
  recoverSequenceCeiling(recordId: number, data: Buffer): void;
  /** The sequence ceiling recovered, if the store held one (see `Persistence.coverSequence`). */
  sequenceCeiling(): number | undefined;
  /** Every queue sequence number up to `seq` may be in the store. */
  coverSequence(seq: number): void;
  /** A prepared transaction, with the queue entries (by reference id) it acknowledges or rejects, taken out of their queues. */
  recoverPrepared(recordId: number, record: PreparedRecord, entries: ReadonlyMap<number, QueueEntry>): void;
}

export interface RecoveryOptions {
  /**
   * Waiting messages (references) above which queues are put back after `recoverState` has
   * returned, while the broker serves: each queue then takes sends at once and delivers once it is
   * whole. At or below it, and whenever a prepared transaction waits (it holds messages of several
   * queues), everything is back before it returns.
   */
  readonly loadInBackgroundAbove: number;
  /** False once the broker is stopping: a load under way gives up at its next turn (the store still holds what it did not put back). */
  readonly wanted: () => boolean;
  /**
   * While the broker stops and its store is still open: a load under way then goes on deleting the
   * messages still to come of queues purged or deleted meanwhile (a purge said they were gone),
   * and gives up when this turns false.
   */
  readonly discardWhileStopping: () => boolean;
  /**
   * The records the store hands back later, when it opened from its catalog (`RecoveredState.later`):
   * waiting and scheduled messages. Every queue then takes sends at once, and delivers once its
   * messages are read and back.
   */
  readonly later?: Promise<Iterable<StoreRecord>> | undefined;
  /**
   * True when the store was opened to repair (`Store.repairing`): references without their queue or
   * message and messages without a reference are deleted. Otherwise they stay in the store, untouched
   * and counted: they may be what is left of a queue or message whose file went missing, and come back
   * whole once it is put back.
   */
  readonly deleteUnplaced?: boolean | undefined;
}

export interface Recovered {
  /** Resolves once every queue is whole; rejects if putting messages back failed. */
  readonly loaded: Promise<void>;
  /**
   * Once `wanted` is false: resolves when the load under way has deleted what was still to come of
   * the queues purged or deleted while they loaded, at once if there is none, or after `ms`. A stop
   * awaits it before it closes the store.
   */
  discarded(ms: number): Promise<void>;
}

/** The record types a broker can take after it has started serving: waiting and scheduled messages (see `OpenOptions.later`). */
export const TAKEN_AFTER_SERVING: readonly number[] = [RecordType.Message, RecordType.StoredMessage, RecordType.Reference, RecordType.Scheduled, RecordType.PagedMessage];

/**
 * Rebuilds the broker from the store's live records (emptying `records` as it reads them): queues,
 * durable subscriptions and everything else but waiting messages first, then every waiting
 * message in its queue's order with its delivery count, now or (past
 * `options.loadInBackgroundAbove`, or when the store hands them back later) in the background.
 * Records that nothing refers to any more (a reference to a missing queue, a message with no
 * reference) are deleted when the store repairs (`deleteUnplaced`), and kept untouched otherwise.
 */
export async function recoverState(
  target: RecoveryTarget,
  records: StoreRecord[] | Iterable<StoreRecord>,
  store: Store,
  bodies: BodyCache,
  logger: Logger,
  options: RecoveryOptions = { loadInBackgroundAbove: Number.POSITIVE_INFINITY, wanted: () => true, discardWhileStopping: () => false },
): Promise<Recovered> {
  const queuesById = new Map<number, MessageQueue>();
  const messages = new RecoveredMessages<HeldMessage>();
  const references = new RecoveredReferences();
  const marks: { id: number; queueId: number; seq: number }[] = [];
  const prepared: { id: number; record: PreparedRecord }[] = [];
  const bindings: { id: number; spec: BindingSpec }[] = [];
  /** Queues whose delete a crash interrupted: references to them go, and then their records. */
  const deletedQueues = new Set<number>();
  let scheduled = 0;
  const take = (record: StoreRecord): void => {
    switch (record.type) {
      case RecordType.Queue:
        queuesById.set(record.id, target.recoverQueue(record.id, decodeQueue(record.data)));
        break;
      case RecordType.DeletedQueue:
        deletedQueues.add(record.id);
        break;
      case RecordType.DurableSubscription: {
        const queue = target.recoverDurable(record.id, decodeDurableSubscription(record.data));
        if (queue !== undefined) queuesById.set(record.id, queue);
        break;
      }
      case RecordType.Message:
      case RecordType.StoredMessage:
        // decoded when a reference puts it in its queue
        messages.add(record.id, record.type, record.data);
        break;
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
      case RecordType.SequenceCeiling:
        target.recoverSequenceCeiling(record.id, record.data);
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
  };
  /** Takes every record, giving the event loop a turn now and then; false if the broker stopped meanwhile. */
  const takeAll = async (from: StoreRecord[] | Iterable<StoreRecord>): Promise<boolean> => {
    let i = 0;
    for (const record of Array.isArray(from) ? consuming(from) : from) {
      if ((i++ & YIELD_EVERY) === YIELD_EVERY) {
        await yieldTurn();
        if (!options.wanted()) return false;
      }
      take(record);
    }
    return true;
  };
  await takeAll(records);
  for (const { id, spec } of bindings) target.recoverBinding(id, spec);
  // a clean stop deletes the marks, so any left say the broker stopped without returning deliveries
  for (const mark of marks) {
    const queue = queuesById.get(mark.queueId);
    if (queue === undefined) store.delete(mark.id);
    else queue.recoverDeliveryMark(mark.id, mark.seq);
  }
  const counts = { queues: queuesById.size, messages: 0, references: 0, scheduled, dangling: 0, orphans: 0, deletedQueues: 0, ofDeletedQueues: 0, discarded: 0, deleteUnplaced: options.deleteUnplaced === true, unplaced: new UnplacedRecords() };
  const ceiling = target.sequenceCeiling();
  if (options.later !== undefined && (prepared.length > 0 || ceiling === undefined)) {
    // A prepared transaction holds messages of several queues; and without a ceiling (a store
    // written before there was one), sends could not be numbered after messages not read yet.
    // Either way, the rest comes first.
    await takeAll(await options.later);
    counts.scheduled = scheduled;
  } else if (options.later !== undefined) {
    const loaded = loadLater(options.later, ceiling!);
    return { loaded, discarded: discardedWithin(loaded) };
  }

  const order = references.order();
  counts.references = references.length;
  // The ceiling stays above every sequence number in the store (one written before there was a
  // ceiling gets one), from before any send is taken: a crash while queues load leaves it so too.
  // A store with none (empty) gets its ceiling with its first reference.
  let top = 0;
  for (let i = 0; i < references.length; i++) top = Math.max(top, references.seq(i));
  for (const mark of marks) top = Math.max(top, mark.seq);
  if (top > 0) target.coverSequence(top);
  const load = (): Promise<void> => loadMessages(queuesById, deletedQueues, messages, references, order, store, bodies, options, counts);
  if (prepared.length > 0 || references.length <= options.loadInBackgroundAbove) {
    await load();
    // what a prepared transaction consumes is held by it, out of its queue, until it is completed
    if (prepared.length > 0) {
      const held = new Set(prepared.flatMap(({ record }) => [...record.acknowledged, ...record.rejected]));
      const entries = new Map<number, QueueEntry>();
      for (const queue of queuesById.values()) for (const entry of queue.takeRecovered(held)) entries.set(entry.referenceId, entry);
      for (const { id, record } of prepared) target.recoverPrepared(id, record, entries);
      logger.warn({ event: 'broker.prepared-transactions', count: prepared.length }, 'prepared transactions await their transaction manager\'s commit or rollback');
    }
    logRecovered(logger, counts);
    return { loaded: Promise.resolve(), discarded: () => Promise.resolve() };
  }

  // the queues that have messages to come take sends from now on, numbered after those
  for (let k = 0; k < order.length; ) {
    const queueId = references.queueId(order[k]!);
    let end = k + 1;
    while (end < order.length && references.queueId(order[end]!) === queueId) end++;
    queuesById.get(queueId)?.startLoading(countPuttable(references, messages, order, k, end), references.seq(order[end - 1]!));
    k = end;
  }
  logger.info(
    { event: 'broker.loading', queues: queuesById.size, references: references.length, scheduled },
    'serving while waiting messages are put back in their queues; each queue delivers once it is whole',
  );
  const loaded = (async () => {
    // the broker finishes starting before the first message goes back
    await yieldTurn();
    await load();
    if (options.wanted()) logRecovered(logger, counts);
    else logStoppedDiscarding(logger, counts);
  })();
  return { loaded, discarded: discardedWithin(loaded) };

  function discardedWithin(load: Promise<void>): (ms: number) => Promise<void> {
    return async (ms) => {
      if (!someDiscarding(queuesById)) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([load.catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
      clearTimeout(timer);
    };
  }

  /**
   * The store hands back waiting and scheduled messages later: every queue takes sends from now on,
   * numbered from the ceiling (above every stored message's), and delivers once the store has read
   * its messages and they are back.
   */
  async function loadLater(later: Promise<Iterable<StoreRecord>>, from: number): Promise<void> {
    for (const queue of queuesById.values()) queue.startLoading(undefined, from - 1);
    logger.info({ event: 'broker.loading', queues: queuesById.size, references: null, scheduled: null }, 'serving while the store reads waiting messages back; each queue delivers once it is whole');
    // the broker finishes starting before the store's records are taken
    await yieldTurn();
    let rest: Iterable<StoreRecord>;
    try {
      rest = await later;
    } catch (err) {
      // a store closed under the broker's stop gives up its reading
      if (!options.wanted()) return;
      throw err;
    }
    if (!(await takeAll(rest))) return;
    counts.scheduled = scheduled;
    const order = references.order();
    counts.references = references.length;
    const expected = new Map<number, number>();
    for (let k = 0; k < order.length; ) {
      const queueId = references.queueId(order[k]!);
      let end = k + 1;
      while (end < order.length && references.queueId(order[end]!) === queueId) end++;
      expected.set(queueId, countPuttable(references, messages, order, k, end));
      k = end;
    }
    for (const [queueId, queue] of queuesById) {
      const count = expected.get(queueId);
      if (count === undefined) queue.finishLoading();
      else queue.loadingState?.expect(count);
    }
    await loadMessages(queuesById, deletedQueues, messages, references, order, store, bodies, options, counts);
    if (options.wanted()) logRecovered(logger, counts);
    else logStoppedDiscarding(logger, counts);
  }
}

interface RecoveryCounts {
  readonly queues: number;
  messages: number;
  references: number;
  scheduled: number;
  dangling: number;
  orphans: number;
  /** Queues whose delete a stop or crash interrupted, and their references, deleted now. */
  deletedQueues: number;
  ofDeletedQueues: number;
  /** References deleted because their queue was purged or deleted while it loaded. */
  discarded: number;
  /** Whether `dangling` and `orphans` were deleted (the store repairs) or kept. */
  readonly deleteUnplaced: boolean;
  /** The messages of `dangling` and `orphans`, by destination. */
  readonly unplaced: UnplacedRecords;
}

/**
 * How many of the references `order[from..to)` (one queue's) have their message: what the queue
 * gets back, and what a purge while it loads deletes. A search by halves each, against a load that
 * decodes every message.
 */
function countPuttable(references: RecoveredReferences, messages: RecoveredMessages<HeldMessage>, order: Uint32Array, from: number, to: number): number {
  let count = 0;
  for (let k = from; k < to; k++) if (messages.has(references.messageRecordId(order[k]!))) count++;
  return count;
}

/**
 * Puts every recovered reference's message back in its queue, queue by queue in sequence order; then
 * deletes what nothing refers to. A stop ends it, but first lets it delete what is still to come of
 * the queues purged or deleted meanwhile: left in the store, it would come back at the next start.
 */
async function loadMessages(
  queuesById: ReadonlyMap<number, MessageQueue>,
  deletedQueues: ReadonlySet<number>,
  messages: RecoveredMessages<HeldMessage>,
  references: RecoveredReferences,
  order: Uint32Array,
  store: Store,
  bodies: BodyCache,
  { wanted, discardWhileStopping }: Pick<RecoveryOptions, 'wanted' | 'discardWhileStopping'>,
  counts: RecoveryCounts,
): Promise<void> {
  const decode = (id: number, type: number, data: Buffer): HeldMessage => {
    const { message } = decodeStoredMessage(data, type);
    bodies.recovered(message, id);
    return { recordId: id, references: 0, message };
  };
  let filling: MessageQueue | undefined;
  /** Once stopping, the message records that references left in the store still refer to. */
  let kept: Set<number> | undefined;
  for (let k = 0; k < order.length; k++) {
    if ((k & YIELD_EVERY) === YIELD_EVERY) {
      await yieldTurn();
      if (!wanted()) {
        if (!discardWhileStopping() || !someDiscarding(queuesById)) return;
        kept ??= new Set();
      }
    }
    const i = order[k]!;
    const id = references.id(i);
    const queue = queuesById.get(references.queueId(i));
    if (queue === undefined && deletedQueues.has(references.queueId(i))) {
      // the delete of its queue was under way: it goes on, its message with the last reference
      store.delete(id);
      messages.discarded(references.messageRecordId(i));
      counts.ofDeletedQueues++;
      continue;
    }
    if (kept !== undefined && queue?.loadingState?.discarding !== true) {
      kept.add(references.messageRecordId(i));
      continue;
    }
    if (queue !== filling) {
      filling?.finishLoading();
      filling = queue;
    }
    if (queue?.loadingState?.discarding === true && messages.has(references.messageRecordId(i))) {
      // purged or deleted while it loaded: the purge counted it
      store.delete(id);
      messages.discarded(references.messageRecordId(i));
      counts.discarded++;
      continue;
    }
    const held = queue === undefined ? undefined : messages.take(references.messageRecordId(i), decode);
    if (queue === undefined || held === undefined) {
      if (counts.deleteUnplaced) store.delete(id);
      counts.dangling++;
      const messageRecordId = references.messageRecordId(i);
      if (messages.has(messageRecordId)) counts.unplaced.message(messageRecordId, messages.peek(messageRecordId, headersOf));
      else counts.unplaced.reference(queue, id);
      continue;
    }
    queue.recover(held.message, held, references.seq(i), references.deliveryCount(i), references.returns(i), id, references.queueExpiry(i), references.returnAdded(i));
  }
  if (kept !== undefined) {
    // only what a purge let go: the rest stays for the next start to put back
    messages.forEach((id, held, discarded) => {
      if (!discarded || (held !== undefined && held.references > 0) || kept.has(id)) return;
      store.delete(id);
      if (held !== undefined) bodies.released(held.message);
    });
    return;
  }
  filling?.finishLoading();
  messages.forEach((id, held, discarded) => {
    if (held !== undefined && held.references > 0) {
      counts.messages++;
      return;
    }
    if (!discarded) {
      counts.orphans++;
      counts.unplaced.message(id, held?.message ?? messages.peek(id, headersOf));
      // its queue's record or its reference may be in a file that is missing or damaged: only a repair gives it up
      if (!counts.deleteUnplaced) return;
    }
    store.delete(id);
    if (held !== undefined) bodies.released(held.message);
  });
  for (const id of deletedQueues) store.delete(id);
  counts.deletedQueues = deletedQueues.size;
}

/** A message record's id and destination, or undefined where it does not decode. */
function headersOf(type: number, data: Buffer): Message | undefined {
  try {
    return decodeStoredMessage(data, type).message;
  } catch {
    return undefined;
  }
}

function someDiscarding(queuesById: ReadonlyMap<number, MessageQueue>): boolean {
  for (const queue of queuesById.values()) if (queue.loadingState?.discarding === true) return true;
  return false;
}

function logStoppedDiscarding(logger: Logger, counts: RecoveryCounts): void {
  if (counts.discarded > 0) logger.info({ event: 'broker.load-discarded', references: counts.discarded, stopping: true }, 'deleted the stored messages of queues purged or deleted while they loaded before stopping');
}

function logRecovered(logger: Logger, counts: RecoveryCounts): void {
  const { queues, messages, references, scheduled, dangling, orphans, discarded, ofDeletedQueues } = counts;
  logger.info({ event: 'broker.recovered', queues, messages, references: references - dangling - discarded - ofDeletedQueues, scheduled }, 'recovered from the store');
  if (discarded > 0) logger.info({ event: 'broker.load-discarded', references: discarded }, 'deleted the stored messages of queues purged or deleted while they loaded');
  if (counts.deletedQueues > 0) {
    logger.info({ event: 'broker.delete-finished', queues: counts.deletedQueues, references: counts.ofDeletedQueues }, 'finished deleting queues whose delete a stop or crash interrupted');
  }
  if (dangling + orphans === 0) return;
  const unplaced = counts.unplaced.summary();
  if (counts.deleteUnplaced) logger.warn({ event: 'store.orphans', dangling, orphans, deleted: true, ...unplaced }, 'deleted records that nothing refers to (store.journal.repair is set)');
  else {
    logger.warn(
      { event: 'store.orphans', dangling, orphans, deleted: false, ...unplaced },
      'kept records that nothing refers to: messages whose queue, and references whose message, the store does not hold (a journal file missing or damaged, or a crash while a queue was deleted); start with store.journal.repair: true to delete them',
    );
  }
}
