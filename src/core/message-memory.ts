/**
 * The bytes waiting messages hold in all queues together (`heldBytes`), against `limits.messageMemory`. Past
 * it every queue acts as if at its own memoryLimit, by its memoryPolicy: `block` holds its
 * producers, `fail` refuses sends, `drop-oldest` discards its oldest; `page` keeps taking, its
 * persistent bodies waiting on disk past `store.bodyCacheSize` (see `QueueMemory` for the one
 * exception). One counter, moved by every queue's
 * waiting entries as they come and go.
 */
export class MessageMemory {
  bytes = 0;
  private room: { readonly promise: Promise<void>; readonly resolve: () => void } | undefined;

  /** 0: no limit. */
  constructor(readonly limit: number) {}

  get over(): boolean {
    return this.limit > 0 && this.bytes >= this.limit;
  }

  added(bytes: number): void {
    this.bytes += bytes;
  }

  removed(bytes: number): void {
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
