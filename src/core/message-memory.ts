import { bodyState, heldBytes, type Message } from './message.js';

/**
 * What a waiting message holds in memory: `heldBytes`, less its body while that waits on disk only
 * (the body cache let it go), as ActiveMQ counts only what its cursors keep in memory.
 */
function heldInMemory(message: Message): number {
  const m = bodyState(message);
  return m.residentBody === null ? heldBytes(m) - m.bodyLength : heldBytes(m);
}

/**
 * The bytes waiting messages hold in memory in all queues together, against `limits.messageMemory`. Past
 * it every queue acts as if at its own memoryLimit, by its memoryPolicy: `block` holds its
 * producers, `fail` refuses sends, `drop-oldest` discards its oldest; `page` keeps taking, its
 * persistent bodies waiting on disk past `store.bodyCacheSize` (see `QueueMemory` for the one
 * exception). One counter, moved by every queue's waiting entries as they come and go, and by the
 * body cache as a waiting message's body leaves memory and comes back: a backlog waiting on disk
 * counts only its headers, so it holds no other destination's producers.
 */
export class MessageMemory {
  bytes = 0;
  private room: { readonly promise: Promise<void>; readonly resolve: () => void } | undefined;

  /** 0: no limit. */
  constructor(readonly limit: number) {}

  get over(): boolean {
    return this.limit > 0 && this.bytes >= this.limit;
  }

  /** `message` waits in one more queue. */
  waiting(message: Message): void {
    bodyState(message).waitingIn++;
    this.bytes += heldInMemory(message);
  }

  /** `message` waits in one queue fewer. */
  left(message: Message): void {
    bodyState(message).waitingIn--;
    this.removed(heldInMemory(message));
  }

  /** `message`'s body has just left memory: each queue it waits in counts it no more. */
  bodyLeft(message: Message): void {
    const m = bodyState(message);
    if (m.waitingIn > 0) this.removed(m.waitingIn * m.bodyLength);
  }

  /** `message`'s body has just been read back into memory: each queue it waits in counts it again. */
  bodyBack(message: Message): void {
    const m = bodyState(message);
    this.bytes += m.waitingIn * m.bodyLength;
  }

  private removed(bytes: number): void {
    this.bytes -= bytes;
    const room = this.room;
    if (room !== undefined && this.bytes < this.limit) {
      this.room = undefined;
      room.resolve();
    }
  }

  /** Resolves once what the waiting messages of all queues hold is under the limit again. */
  whenRoom(): Promise<void> {
    if (!this.over) return Promise.resolve();
    if (this.room === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.room = { promise, resolve };
    }
    return this.room.promise;
  }
}
