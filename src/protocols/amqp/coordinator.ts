import { FerryError, isFerryError } from '../../errors.js';
import { Described } from './codec.js';
import { ReceivingLink } from './incoming.js';
import { amqpError, states, type DeliveryState } from './link.js';
import { decodeValueBody } from './mapping.js';

const DECLARE = 0x31;
const DISCHARGE = 0x32;
const symbolic: Readonly<Record<string, number>> = { 'amqp:declare:list': DECLARE, 'amqp:discharge:list': DISCHARGE };
const CREDIT = 100;

function hex(id: Buffer): string {
  return id.toString('hex');
}

/**
 * The transaction coordinator ([AMQP 4.5]): a link whose target is a coordinator and whose messages
 * are declare and discharge requests. Declare begins a core transaction and answers with its
 * txn-id; discharge commits it (settled once the commit is durable and, with memoryPolicy block,
 * once the queues it filled have room) or, with fail, rolls it back.
 * Transactions still open when the coordinator link goes away are rolled back. Only local
 * transactions: a declare with a global-id is rejected.
 */
export class CoordinatorLink extends ReceivingLink {
  private readonly open = new Map<string, Buffer>();

  start(): void {
    this.topUp(CREDIT);
  }

  protected message(deliveryId: number, _settled: boolean, payload: Buffer): void {
    let reply: Promise<DeliveryState> | DeliveryState;
    try {
      reply = this.request(payload);
    } catch (err) {
      if (!isFerryError(err)) throw err;
      reply = states.rejected(amqpError(err));
    }
    if (reply instanceof Promise) {
      reply.then(
        (outcome) => this.session.settle(deliveryId, outcome),
        (err: unknown) => this.session.settle(deliveryId, states.rejected({ condition: 'amqp:transaction:rollback', description: err instanceof Error ? err.message : String(err) })),
      );
    } else this.session.settle(deliveryId, reply);
    this.topUp(CREDIT);
  }

  private request(payload: Buffer): Promise<DeliveryState> | DeliveryState {
    const request = decodeValueBody(payload);
    if (!(request instanceof Described) || !Array.isArray(request.value)) {
      throw new FerryError('FERRY_AMQP_DECODE', 'a coordinator takes declare and discharge requests');
    }
    const code = typeof request.descriptor === 'string' ? symbolic[request.descriptor] : request.descriptor;
    const fields = request.value;
    const owner = this.session.owner;
    if (code === DECLARE) {
      if (fields[0] !== undefined && fields[0] !== null) {
        throw new FerryError('FERRY_AMQP_PROTOCOL', 'distributed transactions (a declare with a global-id) are not supported');
      }
      const txnId = owner.declareTransaction();
      this.open.set(hex(txnId), txnId);
      return states.declared(txnId);
    }
    if (code === DISCHARGE) {
      const txnId = fields[0];
      if (!Buffer.isBuffer(txnId)) throw new FerryError('FERRY_AMQP_DECODE', 'a discharge needs a binary txn-id');
      const fail = fields[1] === true;
      this.open.delete(hex(txnId));
      const durable = owner.dischargeTransaction(Buffer.from(txnId), fail);
      if (durable === null) return states.accepted;
      return durable.then(() => states.accepted);
    }
    throw new FerryError('FERRY_AMQP_DECODE', 'a coordinator takes declare and discharge requests');
  }

  override close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const txnId of this.open.values()) {
      try {
        this.session.owner.dischargeTransaction(txnId, true);
      } catch (err) {
        if (!isFerryError(err)) throw err;
      }
    }
    this.open.clear();
  }
}
