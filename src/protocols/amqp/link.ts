import { FerryError, isFerryError, type ErrorCode } from '../../errors.js';
import type { CoreConnection, Destination, Logger, Message } from '../../core/index.js';
import type { TransportConnection } from '../../transport/index.js';
import type { AmqpWriter } from './codec.js';
import { Composite, put, type AmqpError } from './frames.js';
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

/** A delivery state (an outcome, or a transactional state around one), as a writer of its encoding. */
export type DeliveryState = (w: AmqpWriter) => void;

const ACCEPTED: DeliveryState = put.described(Composite.accepted, []);
const RELEASED: DeliveryState = put.described(Composite.released, []);

export const states = {
  accepted: ACCEPTED,
  released: RELEASED,
  rejected: (error: AmqpError): DeliveryState => put.described(Composite.rejected, [put.error(error)]),
  declared: (txnId: Buffer): DeliveryState => put.described(Composite.declared, [put.binary(txnId)]),
  transactional: (txnId: Buffer, outcome: DeliveryState): DeliveryState => put.described(Composite.transactionalState, [put.binary(txnId), outcome]),
};

/**
 * A FerryError whose AMQP condition is more exact than its code's (a transfer without credit is
 * FERRY_AMQP_PROTOCOL on the broker's side and amqp:link:transfer-limit-exceeded on the wire).
 */
export class AmqpConditionError extends FerryError {
  constructor(
    readonly condition: string,
    description: string,
    code: ErrorCode = 'FERRY_AMQP_PROTOCOL',
  ) {
    super(code, description);
  }
}

/**
 * One end of a link as the broker keeps it: its name, the handles both ends gave it, and what the
 * session asks of it when the client detaches or the session goes away.
 */
export abstract class Link {
  /** True once the broker has sent its detach. */
  detachSent = false;
  /** Link flow state ([AMQP 2.6.7]), seen from the broker's end. */
  deliveryCount = 0;
  credit = 0;
  drain = false;

  constructor(
    readonly name: string,
    readonly handle: number,
    readonly remoteHandle: number,
  ) {}

  /**
   * The node a dynamic source or target made for this link. It lives as long as the link: [AMQP
   * 3.5.10] delete-on-close, the default lifetime policy, which the attach states.
   */
  dynamicNode: { readonly connection: CoreConnection; readonly destination: Destination } | undefined;

  /** Deletes the link's dynamic node, once the link is gone (its connection's close deletes what is left). */
  protected deleteDynamicNode(): void {
    const node = this.dynamicNode;
    if (node === undefined) return;
    this.dynamicNode = undefined;
    if (!node.connection.isClosed) node.connection.deleteTemporaryDestination(node.destination);
  }

  /** The client detached the link; `closed` is the detach's closed flag. What its answer waits for, if anything. */
  abstract detached(closed: boolean): Promise<void> | void;
  /** The session or connection is going away. */
  abstract close(): void;
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
  FERRY_AMQP_OPEN_TIMEOUT: 'amqp:resource-limit-exceeded',
  FERRY_AUTHENTICATION_FAILED: 'amqp:unauthorized-access',
  FERRY_DIRECTORY_UNAVAILABLE: 'amqp:unauthorized-access',
  FERRY_NOT_AUTHORIZED: 'amqp:unauthorized-access',
  FERRY_BROKER_NOT_STARTED: 'amqp:connection:forced',
  FERRY_STORE_FULL: 'amqp:resource-limit-exceeded',
  FERRY_SLOW_CONSUMER: 'amqp:resource-limit-exceeded',
  FERRY_LIMIT_EXCEEDED: 'amqp:resource-limit-exceeded',
  FERRY_DESTINATION_FULL: 'amqp:resource-limit-exceeded',
};

/** The AMQP error for a failure: its condition from the Ferry code, the code itself in `info`. */
export function amqpError(err: unknown, info: Record<string, string> = {}): AmqpError {
  if (err instanceof AmqpConditionError) return { condition: err.condition, description: err.message, info: { code: err.code, ...info } };
  if (isFerryError(err)) {
    return { condition: conditions[err.code] ?? 'amqp:internal-error', description: err.message, info: { code: err.code, ...info } };
  }
  return { condition: 'amqp:internal-error', description: err instanceof Error ? err.message : String(err), info };
}

/** What a link may ask of its session. */
export interface SessionPort {
  readonly owner: LinkOwner;
  /**
   * Settles an incoming delivery with `state`; undefined means accepted, and such settlements are
   * gathered into ranges written once per turn of the event loop.
   */
  settle(deliveryId: number, state: DeliveryState | undefined): void;
  /** Writes the link's flow (credit, delivery count, drain). */
  flow(link: Link, echo?: boolean): void;
  /** True while the session may send another delivery: the client's incoming window has room. */
  canSend(): boolean;
  /**
   * Sends one delivery of `message` on `link` (one frame or several), its header written for
   * `redeliveries` earlier deliveries (and as the `firstAcquirer` or not) at `now`; an unsettled one
   * is kept until the client settles it.
   */
  sendTransfer(link: Link, tag: number, message: Message, redeliveries: number, firstAcquirer: boolean, now: number, settled: boolean): void;
  /** Completes a drain: the link's remaining credit is used up by advancing its delivery count, and the client is told. */
  drained(link: Link): void;
  /** Forgets the unsettled deliveries of a link that has gone (core has taken their messages back). */
  forget(link: Link): void;
  /** Sends the broker's detach for `link` (closed, with an optional error). */
  detach(link: Link, error?: AmqpError): void;
}
