import { grown } from '../store/typed-columns.js';
import { decodeReference } from './records.js';

/**
 * The reference records read at recovery, one column per field in typed arrays rather than an
 * object per record: with a million messages waiting, two objects per reference were a good part
 * of what the collector had to trace while recovery ran.
 */
/** Added to a stored return count, in its column, for `ReferenceRecord.delayed`. */
const NO_RETURN_ADDED = 0x80000000;

export class RecoveredReferences {
  length = 0;
  private ids = new Float64Array(1024);
  private queueIds = new Float64Array(1024);
  private messageIds = new Float64Array(1024);
  private seqs = new Float64Array(1024);
  private counts = new Uint32Array(1024);
  private returnCounts = new Uint32Array(1024);
  private queueExpiries = new Float64Array(1024);

  add(id: number, data: Buffer): void {
    // decodeReference checks the length and says what is wrong; its result is short-lived
    const ref = decodeReference(data);
    if (this.length === this.ids.length) this.grow();
    const i = this.length++;
    this.ids[i] = id;
    this.queueIds[i] = ref.queueId;
    this.messageIds[i] = ref.messageRecordId;
    this.seqs[i] = ref.seq;
    this.counts[i] = ref.deliveryCount;
    // a delayed entry's last delivery is counted: a mark over it adds no return (see `ReferenceRecord.delayed`)
    this.returnCounts[i] = ref.delayed ? ref.returns + NO_RETURN_ADDED : ref.returns;
    this.queueExpiries[i] = ref.queueExpiry;
  }

  /** Indices of the references by queue, then by sequence within its queue. */
  order(): Uint32Array {
    const { queueIds, seqs } = this;
    const order = new Uint32Array(this.length);
    let sorted = true;
    for (let i = 0; i < order.length; i++) {
      order[i] = i;
      if (i > 0 && (queueIds[i - 1]! > queueIds[i]! || (queueIds[i - 1] === queueIds[i] && seqs[i - 1]! > seqs[i]!))) sorted = false;
    }
    // references are mostly written in order already (one queue, sends in sequence); sort only when not
    if (!sorted) order.sort((a, b) => queueIds[a]! - queueIds[b]! || seqs[a]! - seqs[b]!);
    return order;
  }

  id(i: number): number {
    return this.ids[i]!;
  }

  queueId(i: number): number {
    return this.queueIds[i]!;
  }

  messageRecordId(i: number): number {
    return this.messageIds[i]!;
  }

  seq(i: number): number {
    return this.seqs[i]!;
  }

  deliveryCount(i: number): number {
    return this.counts[i]!;
  }

  returns(i: number): number {
    return this.returnCounts[i]! % NO_RETURN_ADDED;
  }

  /** False for an entry whose last delivery its stored counts hold already (see `ReferenceRecord.delayed`). */
  returnAdded(i: number): boolean {
    return this.returnCounts[i]! < NO_RETURN_ADDED;
  }

  queueExpiry(i: number): number {
    return this.queueExpiries[i]!;
  }

  private grow(): void {
    const size = this.ids.length * 2;
    this.ids = grown(this.ids, size);
    this.queueIds = grown(this.queueIds, size);
    this.messageIds = grown(this.messageIds, size);
    this.seqs = grown(this.seqs, size);
    this.counts = grown(this.counts, size);
    this.returnCounts = grown(this.returnCounts, size);
    this.queueExpiries = grown(this.queueExpiries, size);
  }
}

/**
 * Recovered items by record id, for lookups once all are in: the ids in a typed column, searched by
 * halves (records come back mostly in id order, so sorting is rarely needed). A Map of a million
 * messages was a good part of recovery's own time, and all of it garbage once recovery ends.
 */
export class RecoveredById<T> {
  private ids = new Float64Array(1024);
  private readonly items: T[] = [];
  /** Indices by ascending id, once a lookup needs them and the ids came out of order. */
  private order: Uint32Array | undefined;
  private ascending = true;

  get size(): number {
    return this.items.length;
  }

  add(id: number, item: T): void {
    const n = this.items.length;
    if (n === this.ids.length) this.ids = grown(this.ids, n * 2);
    if (n > 0 && this.ids[n - 1]! >= id) this.ascending = false;
    this.ids[n] = id;
    this.items.push(item);
    this.order = undefined;
  }

  get(id: number): T | undefined {
    const at = this.indexOf(id);
    return at < 0 ? undefined : this.items[at];
  }

  /** Where `id` was added (its position in `values()`), or -1. */
  indexOf(id: number): number {
    const { ids } = this;
    const order = this.ascending ? undefined : (this.order ??= this.sortedOrder());
    let low = 0;
    let high = this.items.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const at = order === undefined ? mid : order[mid]!;
      const found = ids[at]!;
      if (found === id) return at;
      if (found < id) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }

  /** The id added at `index`. */
  idAt(index: number): number {
    return this.ids[index]!;
  }

  /** Replaces the item added at `index`. */
  set(index: number, item: T): void {
    this.items[index] = item;
  }

  values(): readonly T[] {
    return this.items;
  }

  private sortedOrder(): Uint32Array {
    const { ids } = this;
    const order = new Uint32Array(this.items.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    return order.sort((a, b) => ids[a]! - ids[b]!);
  }
}

/**
 * The message records read at recovery, kept as the store handed them back (as slab, offset and
 * length in the store's own buffers) and decoded only when a reference puts the message in a queue.
 * A broker that serves while its queues load reads every record before it opens its listeners and
 * decodes most messages after; a view or a decoded message per record would be a million objects
 * made before the first client is served.
 */
export class RecoveredMessages<T> {
  private readonly byId = new RecoveredById<T | undefined>();
  private readonly slabs: ArrayBufferLike[] = [];
  private slabOf = new Int32Array(1024);
  private offsets = new Int32Array(1024);
  private lengths = new Int32Array(1024);
  private types = new Uint8Array(1024);
  /** 1 for a record a reference of a purged or deleted queue referred to. */
  private discards = new Uint8Array(1024);

  get size(): number {
    return this.byId.size;
  }

  /** Notes record `id`; `data` must stay as it is until the record is taken or recovery ends. */
  add(id: number, type: number, data: Buffer): void {
    const i = this.byId.size;
    if (i === this.offsets.length) {
      const size = i * 2;
      this.slabOf = grown(this.slabOf, size);
      this.offsets = grown(this.offsets, size);
      this.lengths = grown(this.lengths, size);
      this.types = grown(this.types, size);
      this.discards = grown(this.discards, size);
    }
    // records come back packed into a few large buffers: each is noted once
    if (this.slabs[this.slabs.length - 1] !== data.buffer) this.slabs.push(data.buffer);
    this.slabOf[i] = this.slabs.length - 1;
    this.offsets[i] = data.byteOffset;
    this.lengths[i] = data.length;
    this.types[i] = type;
    this.byId.add(id, undefined);
  }

  /** What `make` made of record `id`, made the first time it is asked for; undefined when no message record `id` was read. */
  take(id: number, make: (id: number, type: number, data: Buffer) => T): T | undefined {
    const i = this.byId.indexOf(id);
    if (i < 0) return undefined;
    let item = this.byId.values()[i];
    if (item === undefined) {
      item = make(id, this.types[i]!, Buffer.from(this.slabs[this.slabOf[i]!]!, this.offsets[i]!, this.lengths[i]!));
      this.byId.set(i, item);
    }
    return item;
  }

  /** What `read` makes of record `id`, without keeping it; undefined when no message record `id` was read. */
  peek<R>(id: number, read: (type: number, data: Buffer) => R): R | undefined {
    const i = this.byId.indexOf(id);
    if (i < 0) return undefined;
    return read(this.types[i]!, Buffer.from(this.slabs[this.slabOf[i]!]!, this.offsets[i]!, this.lengths[i]!));
  }

  /** Whether message record `id` was read. */
  has(id: number): boolean {
    return this.byId.indexOf(id) >= 0;
  }

  /** A reference to record `id` was deleted with its purged or deleted queue: unless another refers to it, it goes for that reason, not as an orphan. */
  discarded(id: number): void {
    const i = this.byId.indexOf(id);
    if (i >= 0) this.discards[i] = 1;
  }

  /** Each record's id, what was made of it, if it was ever taken, and whether a discarded reference referred to it. */
  forEach(visit: (id: number, item: T | undefined, discarded: boolean) => void): void {
    const items = this.byId.values();
    for (let i = 0; i < items.length; i++) visit(this.byId.idAt(i), items[i], this.discards[i] === 1);
  }
}
