import { MemoryStore } from '../../src/store/index.js';

/**
 * A MemoryStore whose syncs the test holds back, as a disk that has not written yet would: what a
 * broker answers only once its store has synced waits until the test lets it go. It also tells
 * when a record was appended, so the test knows the broker has taken what a client sent.
 */
export class HeldSyncStore extends MemoryStore {
  private held: Promise<void> | undefined;
  private let: (() => void) | undefined;
  private appended: (() => void) | undefined;

  /** Syncs from now on wait for `release`. */
  hold(): void {
    this.held = new Promise<void>((resolve) => (this.let = resolve));
  }

  release(): void {
    this.let?.();
    this.held = undefined;
    this.let = undefined;
  }

  /** Resolves at the next record added, updated or deleted. */
  nextAppend(): Promise<void> {
    return new Promise<void>((resolve) => (this.appended = resolve));
  }

  override sync(): Promise<void> {
    const synced = super.sync();
    const held = this.held;
    return held === undefined ? synced : held.then(() => synced);
  }

  override add(id: number, type: number, data: Buffer, txId?: number): void {
    super.add(id, type, data, txId);
    this.tell();
  }

  override update(id: number, type: number, data: Buffer, txId?: number): void {
    super.update(id, type, data, txId);
    this.tell();
  }

  override delete(id: number, txId?: number): void {
    super.delete(id, txId);
    this.tell();
  }

  private tell(): void {
    const appended = this.appended;
    this.appended = undefined;
    appended?.();
  }
}
