import { FerryError, isFerryError } from '../../errors.js';
import { Described } from './codec.js';
import { outcomes, type RheaDelivery, type RheaLink, type Typed } from './engine.js';
import { amqpError, type LinkHandler, type LinkOwner } from './link.js';
import { decodeValueBody } from './mapping.js';

const DECLARE = 0x31;
const DISCHARGE = 0x32;
const symbolic: Readonly<Record<string, number>> = { 'amqp:declare:list': DECLARE, 'amqp:discharge:list': DISCHARGE };

function hex(id: Buffer): string {
  return id.toString('hex');
}

/**
 * The transaction coordinator ([AMQP 4.5]): a link whose target is a coordinator and whose messages
 * are declare and discharge requests. Declare begins a core transaction and answers with its
 * txn-id; discharge commits it (settled once the commit is durable) or, with fail, rolls it back.
 * Transactions still open when the coordinator link goes away are rolled back. Only local
 * transactions: a declare with a global-id is rejected.
 */
export class CoordinatorLink implements LinkHandler {
  private readonly open = new Map<string, Buffer>();
  private closed = false;

  constructor(
    private readonly link: RheaLink,
    private readonly owner: LinkOwner,
  ) {}

  start(): void {
    this.link.add_credit(100);
  }

  message(delivery: RheaDelivery, payload: Buffer): void {
    let reply: Promise<Typed> | Typed;
    try {
      reply = this.handle(payload);
    } catch (err) {
      if (!isFerryError(err)) throw err;
      reply = outcomes.rejected(amqpError(err));
    }
    if (reply instanceof Promise) {
      reply.then(
        (outcome) => delivery.update(true, outcome),
        (err: unknown) => delivery.update(true, outcomes.rejected({ condition: 'amqp:transaction:rollback', description: err instanceof Error ? err.message : String(err) })),
      );
    } else delivery.update(true, reply);
    if (this.link.credit < 50) this.link.add_credit(100 - this.link.credit);
  }

  private handle(payload: Buffer): Promise<Typed> | Typed {
    const request = decodeValueBody(payload);
    if (!(request instanceof Described) || !Array.isArray(request.value)) {
      throw new FerryError('FERRY_AMQP_DECODE', 'a coordinator takes declare and discharge requests');
    }
    const code = typeof request.descriptor === 'string' ? symbolic[request.descriptor] : request.descriptor;
    const fields = request.value;
    if (code === DECLARE) {
      if (fields[0] !== undefined && fields[0] !== null) {
        throw new FerryError('FERRY_AMQP_PROTOCOL', 'distributed transactions (a declare with a global-id) are not supported');
      }
      const txnId = this.owner.declareTransaction();
      this.open.set(hex(txnId), txnId);
      return outcomes.declared(txnId);
    }
    if (code === DISCHARGE) {
      const txnId = fields[0];
      if (!Buffer.isBuffer(txnId)) throw new FerryError('FERRY_AMQP_DECODE', 'a discharge needs a binary txn-id');
      const fail = fields[1] === true;
      this.open.delete(hex(txnId));
      const durable = this.owner.dischargeTransaction(Buffer.from(txnId), fail);
      if (durable === null) return outcomes.accepted();
      return durable.then(() => outcomes.accepted());
    }
    throw new FerryError('FERRY_AMQP_DECODE', 'a coordinator takes declare and discharge requests');
  }

  detached(): void {
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const txnId of this.open.values()) {
      try {
        this.owner.dischargeTransaction(txnId, true);
      } catch (err) {
        if (!isFerryError(err)) throw err;
      }
    }
    this.open.clear();
  }
}
