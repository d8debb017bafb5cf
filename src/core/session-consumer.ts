import type { ConsumerHandle } from './access.js';
import type { Consumer } from './consumer.js';
import type { PropertyChanges } from './message.js';
import type { Transaction } from './transaction.js';

/** Where a session consumer finds the transaction a client names (its connection). */
export interface TransactionsById {
  transaction(txId: string): Transaction;
}

/** A consumer as its adapter holds it: transactions are named by id, the queue stays inside core. */
export class SessionConsumer implements ConsumerHandle {
  constructor(
    readonly consumer: Consumer,
    private readonly transactions: TransactionsById,
  ) {}

  get id(): number {
    return this.consumer.id;
  }

  get ackMode(): ConsumerHandle['ackMode'] {
    return this.consumer.ackMode;
  }

  get isClosed(): boolean {
    return this.consumer.isClosed;
  }

  get inFlightCount(): number {
    return this.consumer.inFlightCount;
  }

  get waitsOnStore(): boolean {
    return this.consumer.queue.waitsOnStore;
  }

  get tookOver(): boolean {
    return this.consumer.tookOver;
  }

  acknowledge(tag: number, txId?: string): void {
    this.consumer.acknowledge(tag, this.transactionOf(txId));
  }

  acknowledgeOnly(tag: number, txId?: string): void {
    this.consumer.acknowledgeOnly(tag, this.transactionOf(txId));
  }

  reject(tag: number, txId?: string, reason?: string): void {
    this.consumer.reject(tag, this.transactionOf(txId), reason);
  }

  rejectOnly(tag: number, txId?: string, reason?: string): void {
    this.consumer.rejectOnly(tag, this.transactionOf(txId), reason);
  }

  expire(tag: number): void {
    this.consumer.expire(tag);
  }

  written(): Promise<void> | null {
    return this.consumer.written();
  }

  private transactionOf(txId: string | undefined): Transaction | undefined {
    return txId === undefined ? undefined : this.transactions.transaction(txId);
  }

  redeliver(tag: number, changes?: PropertyChanges): void {
    this.consumer.redeliver(tag, changes);
  }

  release(tag: number, changes?: PropertyChanges): void {
    this.consumer.release(tag, changes);
  }

  refuse(tag: number, counted: boolean, changes?: PropertyChanges): void {
    this.consumer.refuse(tag, counted, changes);
  }

  extend(tag: number, ms?: number): boolean {
    return this.consumer.extend(tag, ms);
  }

  tagOf(messageId: string, newest = false): number | undefined {
    return this.consumer.tagOf(messageId, newest);
  }

  wake(): void {
    this.consumer.wake();
  }

  setPrefetch(count: number): void {
    this.consumer.setPrefetch(count);
  }

  stopConsuming(): void {
    this.consumer.stopConsuming();
  }

  close(): void {
    this.consumer.close();
  }
}
