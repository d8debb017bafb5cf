import { isFerryError, type ErrorCode } from '../../errors.js';
import type { Logger } from '../../core/index.js';
import type { TransportConnection } from '../../transport/index.js';
import type { RheaError } from './engine.js';
import type { AmqpOptions } from './options.js';


/** What a link needs from its connection: the socket, settings, and the connection's transactions. */
export interface LinkOwner {
  readonly transport: TransportConnection;
  readonly logger: Logger;
  readonly options: AmqpOptions;
  /** Core's name for the transaction a txn-id names, checked to be open (FERRY_TX_NOT_FOUND otherwise). */
  transactionName(txnId: Buffer): string;
  declareTransaction(): Buffer;
  /** Commits or (with `fail`) rolls back; resolves when a commit is durable. */
  dischargeTransaction(txnId: Buffer, fail: boolean): Promise<void> | null;
}

/** What the connection asks of every link it keeps. */
export interface LinkHandler {
  /** The client detached the link; `closed` is the detach's closed flag. */
  detached(closed: boolean): void;
  /** The session or connection is going away. */
  close(): void;
}

const conditions: Partial<Record<ErrorCode, string>> = {
  FERRY_DESTINATION_INVALID: 'amqp:invalid-field',
  FERRY_DESTINATION_NOT_FOUND: 'amqp:not-found',
  FERRY_CONSUMER_EXISTS: 'amqp:resource-locked',
  FERRY_CONSUMER_NOT_FOUND: 'amqp:not-found',
  FERRY_DELIVERY_NOT_FOUND: 'amqp:illegal-state',
  FERRY_SELECTOR_INVALID: 'amqp:invalid-field',
  FERRY_TX_NOT_FOUND: 'amqp:transaction:unknown-id',
  FERRY_TX_EXISTS: 'amqp:illegal-state',
  FERRY_CLIENT_ID_IN_USE: 'amqp:invalid-field',
  FERRY_CONNECTION_CLOSED: 'amqp:connection:forced',
  FERRY_BROKER_STOPPING: 'amqp:connection:forced',
  FERRY_AMQP_FRAMING: 'amqp:connection:framing-error',
  FERRY_AMQP_DECODE: 'amqp:decode-error',
  FERRY_AMQP_PROTOCOL: 'amqp:not-implemented',
};

/** The AMQP error for a failure: its condition from the Ferry code, the code itself in `info`. */
export function amqpError(err: unknown): RheaError & { info?: Record<string, string> } {
  if (isFerryError(err)) {
    return { condition: conditions[err.code] ?? 'amqp:internal-error', description: err.message, info: { code: err.code } };
  }
  return { condition: 'amqp:internal-error', description: err instanceof Error ? err.message : String(err) };
}

/** A delivery tag for core's numeric tag: its decimal digits, as rhea's own tags are. */
export function deliveryTag(tag: number): Buffer {
  return Buffer.from(String(tag), 'latin1');
}
