import type { BodyCache } from './body-cache.js';
import { bodyState, type Message } from './message.js';
import type { QueueEntry } from './queue-entry.js';
import type { TimerQueue } from './timers.js';

/** How far ahead of delivery a queue reads bodies back from the store: entries, and bytes of bodies. */
export const READ_AHEAD_ENTRIES = 1000;
const READ_AHEAD_BYTES = 8 * 1024 * 1024;
/** A read that failed (the database away) is tried again after this long. */
const READ_RETRY_MS = 1000;

/** The queue a `QueueReads` reads ahead for. */
export interface ReadingQueue {
  isDestroyed(): boolean;
  dispatch(): void;
  /** The waiting entries, in dispatch order. */
  waiting(): Iterable<QueueEntry>;
  /** Puts back an entry that was taken out to be moved, when its body could not be read. */
  putBack(entry: QueueEntry): void;
  /** The entry's queue is gone: it leaves the store without being moved. */
  drop(entry: QueueEntry): void;
}

interface Move {
  readonly entry: QueueEntry;
  readonly move: () => void;
}

/**
 * One queue's reads of bodies that wait on disk (see `BodyCache`): ahead of in-order dispatch, ahead
 * of a message that selective dispatch is about to hand over, and before a dead letter or an
 * expired message is copied elsewhere. One read at a time per queue; dispatch resumes when it ends.
 *
 * With a store that can also read synchronously (the journal), a failed read-ahead is not tried
 * again: each delivery then reads its own body. With one that cannot (PostgreSQL), nothing whose
 * body is on disk goes out until a read has brought it back, and a failed read is tried again.
 */
export class QueueReads {
  private reading = false;
  /** Resolves when the read under way has ended: at once when it brought the bodies back, after the retry delay when it failed. */
  private settled: Promise<void> | undefined;
  private failed = false;
  private sinceReadAhead = 0;
  private moves: Move[] = [];
  private movesScheduled = false;

  constructor(
    private readonly queue: ReadingQueue,
    private readonly bodies: BodyCache,
    private readonly timers: TimerQueue,
    private readonly clock: () => number,
  ) {}

  /** True when in-order dispatch must wait before handing `head` over: its body is being read back. */
  holdsHead(head: QueueEntry): boolean {
    const bodies = this.bodies;
    if (!bodies.anyOnDisk || bodyState(head.message).residentBody !== null) return false;
    if (bodies.mustReadFirst(head.message)) {
      this.readAhead();
      return true;
    }
    return !this.failed && this.readAhead();
  }

  /** An entry went out in order: past half the window, the next window is read. */
  handedOver(): void {
    if (this.bodies.anyOnDisk && ++this.sinceReadAhead >= READ_AHEAD_ENTRIES / 2) this.readAhead();
  }

  /**
   * Starts reading back the bodies on disk among the entries at the head of the queue; returns true
   * while such a read is in progress.
   */
  readAhead(): boolean {
    if (this.reading) return true;
    this.sinceReadAhead = 0;
    const wanted: Message[] = [];
    let scanned = 0;
    let bytes = 0;
    for (const entry of this.queue.waiting()) {
      if (++scanned > READ_AHEAD_ENTRIES || bytes >= READ_AHEAD_BYTES) break;
      const m = bodyState(entry.message);
      if (m.residentBody !== null || m.bodyRecordId === 0) continue;
      wanted.push(entry.message);
      bytes += m.bodyLength;
    }
    if (wanted.length === 0) return false;
    this.read(wanted);
    return true;
  }

  /**
   * Selective dispatch met `entries` (in queue order), whose bodies wait on disk and which some
   * consumer may take: they are read back before dispatch goes past the first of them.
   */
  readSelected(entries: readonly QueueEntry[]): void {
    if (this.reading) return;
    const wanted: Message[] = [];
    let bytes = 0;
    for (const entry of entries) {
      if (bytes >= READ_AHEAD_BYTES) break;
      wanted.push(entry.message);
      bytes += bodyState(entry.message).bodyLength;
    }
    this.read(wanted);
  }

  /**
   * `move` copies the entry elsewhere (a dead letter, an expired message), which needs its body: it
   * runs now when the body is in memory or can be read synchronously, else once the body has been
   * read back, together with the other moves of this turn. Meanwhile the entry is in none of the
   * queue's places; its reference stays in the store until the move, so a crash keeps it here.
   */
  moveOut(entry: QueueEntry, move: () => void): void {
    if (!this.bodies.mustReadFirst(entry.message)) {
      move();
      return;
    }
    this.moves.push({ entry, move });
    if (this.movesScheduled) return;
    this.movesScheduled = true;
    queueMicrotask(() => this.readForMoves());
  }

  private readForMoves(): void {
    this.movesScheduled = false;
    const moves = this.moves;
    this.moves = [];
    this.bodies.readBack(moves.map((m) => m.entry.message)).then(
      () => {
        for (const { entry, move } of moves) {
          if (this.queue.isDestroyed()) this.queue.drop(entry);
          else if (bodyState(entry.message).residentBody === null) this.queue.putBack(entry);
          else this.bodies.guarded(move);
        }
        this.queue.dispatch();
      },
      (err: unknown) => {
        this.bodies.readFailed(err);
        this.timers.at(this.clock() + READ_RETRY_MS, () => {
          for (const m of moves) this.moveOut(m.entry, m.move);
        });
      },
    );
  }

  /** The read under way, if any: resolves once it has ended (after the retry delay, when it failed). */
  whenRead(): Promise<void> | undefined {
    return this.settled;
  }

  private read(wanted: Message[]): void {
    this.reading = true;
    let ended!: () => void;
    this.settled = new Promise<void>((resolve) => (ended = resolve));
    const end = (): void => {
      this.settled = undefined;
      ended();
    };
    this.bodies.readBack(wanted).then(
      () => {
        this.reading = false;
        end();
        if (!this.queue.isDestroyed()) this.queue.dispatch();
      },
      (err: unknown) => {
        this.reading = false;
        this.bodies.readFailed(err);
        if (!this.bodies.readsSynchronously) {
          // nothing else can bring these bodies back: try again, without spinning while the store is away
          this.timers.at(this.clock() + READ_RETRY_MS, () => {
            end();
            if (!this.queue.isDestroyed()) this.queue.dispatch();
          });
          return;
        }
        // deliveries then read each body themselves, and a store that cannot read says so there
        this.failed = true;
        end();
        if (!this.queue.isDestroyed()) this.queue.dispatch();
      },
    );
  }
}
