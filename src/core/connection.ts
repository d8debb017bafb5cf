import { FerryError } from '../errors.js';
import type { Broker, SubscribeOptions } from './broker.js';
import type { Consumer } from './consumer.js';
import type { Destination, MessageInit } from './message.js';
import { Transaction } from './transaction.js';

export interface ConnectionInfo {
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly clientId?: string | undefined;
  readonly username?: string | undefined;
  /** When another connection holds the client id, close it (it hears of it through `onEvicted`) instead of refusing this one. */
  readonly takeOver?: boolean | undefined;
}

export interface SendOptions {
  /** Also keep the message as its topic's retained message (an empty body clears it). */
  readonly retain?: boolean | undefined;
  /**
   * An id its producer (named by the connection's client id) gives the message until it calls
   * `Broker.forgetProducerId`: a resend with the same id, even across a broker restart, is dropped.
   * MQTT's QoS 2 packet ids of a persistent session are such ids.
   */
  readonly producerId?: string | undefined;
}

/**
 * One client connection as core sees it. Protocol adapters call in through it (and its sessions);
 * it owns what must end with the connection: consumers, open transactions, temporary destinations.
 */
export class CoreConnection {
  private readonly sessions = new Set<CoreSession>();
  /** Made by the first transaction: most connections never open one. */
  private transactions: Map<string, Transaction> | undefined;
  private readonly temporary: Destination[] = [];
  private nextTemporary = 1;
  private closed = false;
  /** Called when a newer connection takes this one's client id over, just before core closes this one. */
  onEvicted: (() => void) | undefined;

  constructor(
    readonly id: string,
    readonly info: ConnectionInfo,
    private readonly broker: Broker,
  ) {}

  get clientId(): string | undefined {
    return this.info.clientId;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  createSession(): CoreSession {
    this.assertOpen();
    const session = new CoreSession(this, this.broker);
    this.sessions.add(session);
    return session;
  }

  /** Starts a transaction named by the client; names are scoped to this connection. */
  begin(txId: string): void {
    this.assertOpen();
    const transactions = (this.transactions ??= new Map());
    if (transactions.has(txId)) throw new FerryError('FERRY_TX_EXISTS', `transaction "${txId}" is already in progress`);
    transactions.set(txId, new Transaction(txId));
  }

  transaction(txId: string): Transaction {
    const tx = this.transactions?.get(txId);
    if (tx === undefined) throw new FerryError('FERRY_TX_NOT_FOUND', `transaction "${txId}" was not begun, or has already ended`);
    return tx;
  }

  /** Applies the transaction; resolves when what it wrote is durable (null when it wrote nothing). */
  commit(txId: string): Promise<void> | null {
    const tx = this.transaction(txId);
    this.transactions?.delete(txId);
    return this.broker.commit(tx);
  }

  rollback(txId: string): void {
    const tx = this.transaction(txId);
    this.transactions?.delete(txId);
    this.broker.rollback(tx);
  }

  /** A temporary queue or topic that lives as long as this connection and only it may consume. */
  createTemporaryDestination(kind: 'queue' | 'topic'): Destination {
    this.assertOpen();
    const destination: Destination = { kind, name: `ID:${this.id}:${this.nextTemporary++}`, temporary: true };
    this.broker.createTemporary(destination, this);
    this.temporary.push(destination);
    return destination;
  }

  ownsTemporary(destination: Destination): boolean {
    return this.temporary.some((d) => d.kind === destination.kind && d.name === destination.name);
  }

  /** Closes everything the connection owns: transactions roll back, unacknowledged messages are redelivered. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // stop every consumer first, so what rolls back or returns goes to other connections
    for (const session of this.sessions) session.stopConsumers();
    for (const tx of this.transactions?.values() ?? []) this.broker.rollback(tx);
    this.transactions = undefined;
    for (const session of this.sessions) session.close();
    this.sessions.clear();
    for (const destination of this.temporary) this.broker.deleteTemporary(destination);
    this.broker.disconnected(this);
  }

  forgetSession(session: CoreSession): void {
    this.sessions.delete(session);
  }

  assertOpen(): void {
    if (this.closed) throw new FerryError('FERRY_CONNECTION_CLOSED', 'the connection is closed');
  }
}

/** A session groups consumers (and, for JMS, an acknowledgement mode); closing it closes them. */
export class CoreSession {
  /** Made by the first subscription: a producer's session never needs it. */
  private consumers: Set<Consumer> | undefined;
  private closed = false;

  constructor(
    readonly connection: CoreConnection,
    private readonly broker: Broker,
  ) {}

  /**
   * Sends a message, or holds it in transaction `txId` until commit. Resolves when the message is
   * durable; returns null when there is nothing to wait for (non-persistent, or held).
   */
  send(init: MessageInit, txId?: string, options?: SendOptions): Promise<void> | null {
    this.connection.assertOpen();
    const message = this.broker.createMessage(init, this.connection.id);
    if (options?.retain === true) {
      if (txId !== undefined) throw new FerryError('FERRY_DESTINATION_INVALID', 'a retained message cannot be sent in a transaction');
      return this.broker.send(message, this.connection, options);
    }
    if (txId !== undefined) {
      this.broker.checkSendable(message.destination, this.connection);
      this.connection.transaction(txId).holdSend(message);
      return null;
    }
    return this.broker.send(message, this.connection, options);
  }

  subscribe(options: SubscribeOptions): Consumer {
    this.connection.assertOpen();
    const consumer = this.broker.subscribe(this.connection, options);
    (this.consumers ??= new Set()).add(consumer);
    const previous = consumer.onClose;
    consumer.onClose = () => {
      this.consumers?.delete(consumer);
      previous?.();
    };
    return consumer;
  }

  stopConsumers(): void {
    for (const consumer of this.consumers ?? []) consumer.stop();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopConsumers();
    for (const consumer of [...(this.consumers ?? [])]) consumer.close();
    this.connection.forgetSession(this);
  }
}
