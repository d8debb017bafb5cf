import { FerryError } from '../errors.js';
import type { RecordReader } from '../store/index.js';
import type { Logger } from './logger.js';
import type { MessageMemory } from './message-memory.js';
import { bodyState, copyMessage, type BodyHome, type Message } from './message.js';
import { RecordType, bodyOfRecord, storedMessageHeaderLength } from './records.js';

export interface BodyCacheStats {
  /** Bytes of persistent message bodies in memory. */
  readonly residentBytes: number;
  /** Null when there is no limit (JSON has no infinity). */
  readonly limitBytes: number | null;
  /** Persistent messages whose body waits on disk only. */
  readonly onDisk: number;
  /** Bodies read back ahead of their delivery. */
  readonly readAhead: number;
  /** Bodies read back at the moment a delivery needed them: read-ahead did not get there first. */
  readonly readOnDemand: number;
}

/**
 * Keeps the bodies of persistent messages in memory up to a limit. Past it, a newly stored message
 * keeps only its headers in memory (what routing, selectors, priorities and groups need) and its body
 * waits in the store; queues read bodies back ahead of delivery (`readAhead`), so 10 GB waiting on
 * disk does not take 10 GB of memory. The newest messages are the ones to leave: in a queue with a
 * backlog they are the furthest from its head.
 *
 * A body leaves memory only when the store can read it back (its record is live) and nothing but
 * persisting queues holds the message: a non-durable subscriber, a retained or a scheduled message
 * would otherwise outlive the record their body is in.
 */
export class BodyCache implements BodyHome {
  private resident = 0;
  private onDisk = 0;
  private readAhead = 0;
  private readOnDemand = 0;
  private candidates: Message[] = [];
  private evictScheduled = false;

  constructor(
    private readonly reader: RecordReader | undefined,
    readonly limit: number,
    private readonly logger: Logger,
    /** Counts what waiting messages hold in memory, which a body leaving or coming back changes. */
    private readonly memory?: MessageMemory,
  ) {}

  /** True when some message body waits on disk only: queues then read ahead before they dispatch. */
  get anyOnDisk(): boolean {
    return this.onDisk > 0;
  }

  /** True when stored bodies take more memory than the limit: new ones should leave it. */
  get overLimit(): boolean {
    return this.resident > this.limit && this.reader !== undefined;
  }

  get enabled(): boolean {
    return this.reader !== undefined && this.limit < Number.POSITIVE_INFINITY;
  }

  /** False for a store that reads asynchronously only (PostgreSQL). */
  get readsSynchronously(): boolean {
    return this.reader?.readSync !== undefined;
  }

  /** A read back from the store failed; whoever asked tries again later. */
  readFailed(err: unknown): void {
    this.logger.warn({ event: 'body-cache.read-failed', error: err instanceof Error ? err.message : String(err) }, 'message bodies could not be read back from the store; trying again');
  }

  /** Runs `work` that was waiting for a read; the broker may have stopped meanwhile, which it logs. */
  guarded(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.logger.warn({ event: 'body-cache.move-failed', error: err instanceof Error ? err.message : String(err) }, 'a message whose body was read back could not be moved; it stays in the store');
    }
  }

  /**
   * True when `message`'s body waits on disk and the store cannot read it synchronously
   * (PostgreSQL): whoever needs the body must read it back first (`readBack`, `withBodies`), since
   * `message.body` would throw.
   */
  mustReadFirst(message: Message): boolean {
    const m = bodyState(message);
    return m.residentBody === null && m.bodyRecordId !== 0 && this.reader?.readSync === undefined;
  }

  /**
   * What recovery keeps in memory of each record: message records whole while their bodies fit in the
   * limit (the oldest first, as the journal replays them), then only their headers.
   */
  recoveryFilter(): ((type: number, data: Buffer, start: number, end: number) => number) | undefined {
    if (!this.enabled) return undefined;
    let kept = 0;
    return (type, data, start, end) => {
      const length = end - start;
      // a paged non-persistent message is deleted as soon as it is read: only its headers are kept
      if (type === RecordType.PagedMessage) return storedMessageHeaderLength(data, start, end);
      if (type !== RecordType.StoredMessage) return length;
      const headers = storedMessageHeaderLength(data, start, end);
      const bodyLength = length - headers;
      if (kept + bodyLength > this.limit) return headers;
      kept += bodyLength;
      return length;
    };
  }

  /** A message recovered from record `recordId`, with or without its body (see `keepOnRecovery`). */
  recovered(message: Message, recordId: number): void {
    const m = bodyState(message);
    m.bodyRecordId = recordId;
    m.bodyHome = this;
    if (m.residentBody === null) this.onDisk++;
    else this.resident += m.bodyLength;
  }

  /** A message was written to record `recordId`: its body counts against the limit from now on. */
  stored(message: Message, recordId: number): void {
    const m = bodyState(message);
    if (m.bodyRecordId === 0 && m.residentBody !== null) this.resident += m.bodyLength;
    m.bodyRecordId = recordId;
    m.bodyHome = this;
  }

  /** Keeps `message`'s body in memory for good (it is held by more than persisting queues). */
  pin(message: Message): void {
    // a field of the message, not a WeakSet: a weak table with an entry per scheduled message is
    // walked by every full collection and rehashed as it grows
    bodyState(message).bodyPinned = true;
  }

  /** Only persisting queues hold the stored `message`: when the cache is over its limit, its body leaves memory. */
  offer(message: Message): void {
    if (!this.enabled || this.resident <= this.limit) return;
    this.candidates.push(message);
    if (this.evictScheduled) return;
    this.evictScheduled = true;
    // after the current send or commit has finished: a transaction's records become readable at its commit
    queueMicrotask(() => this.evict());
  }

  /** The message's record was deleted: its body is no longer the cache's to count or to read back. */
  released(message: Message): void {
    const m = bodyState(message);
    if (m.bodyRecordId === 0) return;
    if (m.residentBody === null) this.onDisk--;
    else this.resident -= m.bodyLength;
    m.bodyRecordId = 0;
  }

  /** Reads back, together, the bodies of `messages` that wait on disk. */
  async readBack(messages: readonly Message[]): Promise<void> {
    const reader = this.reader;
    if (reader === undefined) return;
    const wanted = messages.filter((message) => {
      const m = bodyState(message);
      return m.residentBody === null && m.bodyRecordId !== 0;
    });
    if (wanted.length === 0) return;
    const records = await reader.readMany(wanted.map((message) => bodyState(message).bodyRecordId));
    for (let i = 0; i < wanted.length; i++) {
      const m = bodyState(wanted[i]!);
      const data = records[i];
      // released meanwhile, or read back on demand first
      if (m.residentBody !== null || m.bodyRecordId === 0 || data === undefined) continue;
      this.restore(m, data);
      this.readAhead++;
    }
  }

  /**
   * `messages`, each with its body in memory, for a reader that must not fill the cache (a browse,
   * the management API): a body on disk is read back, with the others, into a copy of its message
   * that the cache does not count; a message whose body is in memory is itself.
   */
  async withBodies(messages: readonly Message[]): Promise<Message[]> {
    const reader = this.reader;
    const wanted: number[] = [];
    for (let i = 0; i < messages.length; i++) {
      const m = bodyState(messages[i]!);
      if (m.residentBody === null && m.bodyRecordId !== 0) wanted.push(i);
    }
    if (reader === undefined || wanted.length === 0) return [...messages];
    const records = await reader.readMany(wanted.map((i) => bodyState(messages[i]!).bodyRecordId));
    const out = [...messages];
    for (let k = 0; k < wanted.length; k++) {
      const i = wanted[k]!;
      const m = bodyState(messages[i]!);
      if (m.residentBody !== null) continue;
      const data = records[k];
      if (data === undefined) throw new FerryError('FERRY_STORE_FAILED', `the body of message ${m.id} left the store while it was read`);
      this.readOnDemand++;
      out[i] = copyMessage(m, { body: Buffer.from(bodyOfRecord(data, m.bodyLength)) });
    }
    return out;
  }

  readBodySync(message: Message, recordId: number, bodyLength: number): Buffer {
    const reader = this.reader;
    if (reader === undefined || recordId === 0) {
      throw new FerryError('FERRY_STORE_FAILED', `the body of message ${message.id} (${bodyLength} bytes) is neither in memory nor in the store`);
    }
    // core reads every body back before it needs it from such a store: this is a path that did not
    if (reader.readSync === undefined) {
      throw new FerryError('FERRY_STORE_FAILED', `the body of message ${message.id} (${bodyLength} bytes) waits in a store that reads asynchronously only, and was needed before it was read back`);
    }
    this.readOnDemand++;
    const m = bodyState(message);
    const data = reader.readSync(recordId);
    // a delivery keeps the body it read while there is room; a browse of a long queue does not fill memory
    if (this.resident + bodyLength <= this.limit) return this.restore(m, data);
    return Buffer.from(bodyOfRecord(data, bodyLength));
  }

  stats(): BodyCacheStats {
    return { residentBytes: this.resident, limitBytes: this.limit === Number.POSITIVE_INFINITY ? null : this.limit, onDisk: this.onDisk, readAhead: this.readAhead, readOnDemand: this.readOnDemand };
  }

  private restore(m: ReturnType<typeof bodyState>, data: Buffer): Buffer {
    // a copy: the record read may be a view into a larger read
    const body = Buffer.from(bodyOfRecord(data, m.bodyLength));
    m.residentBody = body;
    this.onDisk--;
    this.resident += m.bodyLength;
    this.memory?.bodyBack(m);
    return body;
  }

  private evict(): void {
    this.evictScheduled = false;
    const candidates = this.candidates;
    this.candidates = [];
    const reader = this.reader!;
    for (const message of candidates) {
      if (this.resident <= this.limit) break;
      const m = bodyState(message);
      if (m.residentBody === null || m.bodyRecordId === 0 || m.bodyPinned) continue;
      if (!reader.has(m.bodyRecordId)) {
        this.logger.debug({ event: 'body-cache.kept', messageId: message.id }, 'a message body stays in memory: its record is not readable yet');
        continue;
      }
      m.residentBody = null;
      // encodings made for delivery hold the body too
      m.encodings = undefined;
      this.resident -= m.bodyLength;
      this.onDisk++;
      this.memory?.bodyLeft(m);
    }
  }
}
