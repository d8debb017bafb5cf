import { FerryError, isFerryError } from '../../errors.js';
import type { CoreSession, Destination } from '../../core/index.js';
import { parseAddress } from './address.js';
import { AmqpConditionError, outcomes, type RheaDelivery, type RheaLink, type Typed } from './engine.js';
import { amqpError, type LinkHandler, type LinkOwner } from './link.js';
import { decodeMessage } from './mapping.js';

/**
 * A link on which the client sends (the client's sender): every message it transfers becomes a
 * core send. The target's address fixes the destination; a link without one is an anonymous relay
 * and each message's `to` says where it goes.
 *
 * A delivery the client did not settle is settled with accepted once core has it, and for a
 * persistent message only once the store has synced it (CoreSession.send's promise), so settlement
 * means what a STOMP receipt means. A message core refuses (a bad destination, a payload that does
 * not decode) is settled with rejected and its error; the link stays. Credit is given in
 * `amqp.producerCredit` portions and topped up when half is used.
 */
export class ProducerLink implements LinkHandler {
  /** Format, transaction and size of the transfer being received (set by the transfer hook). */
  private format = 0;
  private txnId: Buffer | undefined;
  private received = 0;
  private closed = false;

  constructor(
    private readonly link: RheaLink,
    private readonly session: CoreSession,
    private readonly owner: LinkOwner,
    private readonly destination: Destination | undefined,
  ) {}

  /** Gives the client its first credit. */
  start(): void {
    this.link.add_credit(this.owner.options.producerCredit);
  }

  /** The first frame of a transfer arrived: its message format and transaction. */
  beginTransfer(format: number, txnId: Buffer | undefined): void {
    this.format = format;
    this.txnId = txnId;
    this.received = 0;
  }

  /** A later frame of the transfer may carry the transaction too. */
  transferState(txnId: Buffer | undefined): void {
    if (txnId !== undefined) this.txnId = txnId;
  }

  /** Counts a frame's payload; throws once the message passes amqp.maxMessageSize. */
  countBytes(size: number): void {
    this.received += size;
    const limit = this.owner.options.maxMessageSize;
    if (this.received > limit) {
      throw new AmqpConditionError('amqp:link:message-size-exceeded', `message larger than ${limit} bytes (amqp.maxMessageSize)`);
    }
  }

  /** The client aborted the transfer under way. */
  aborted(): void {
    this.txnId = undefined;
    this.received = 0;
  }

  message(delivery: RheaDelivery, payload: Buffer): void {
    const txnId = this.txnId;
    this.txnId = undefined;
    let durable: Promise<void> | null;
    try {
      if (this.format !== 0) throw new FerryError('FERRY_AMQP_PROTOCOL', `message format ${this.format} is not supported; only 0 (a bare AMQP message) is`);
      const { fields, to } = decodeMessage(payload, Date.now());
      let destination = this.destination;
      if (destination === undefined) {
        if (to === undefined || to === '') throw new FerryError('FERRY_DESTINATION_INVALID', 'a message on an anonymous-relay link needs a "to" address');
        destination = parseAddress(to);
      }
      const txName = txnId === undefined ? undefined : this.owner.transactionName(txnId);
      fields.destination = destination;
      durable = this.session.send(fields, txName);
    } catch (err) {
      if (!isFerryError(err)) throw err;
      this.settle(delivery, () => outcomes.rejected(amqpError(err)), txnId);
      this.topUp();
      return;
    }
    if (durable === null) this.settle(delivery, outcomes.accepted, txnId);
    else {
      durable.then(
        () => this.settle(delivery, outcomes.accepted, txnId),
        (err: unknown) => {
          this.owner.logger.warn({ event: 'amqp.send-failed', err }, 'a message could not be made durable');
          this.settle(delivery, () => outcomes.rejected(amqpError(err)), txnId);
        },
      );
    }
    this.topUp();
  }

  private settle(delivery: RheaDelivery, outcome: () => Typed, txnId: Buffer | undefined): void {
    // a pre-settled delivery gets no disposition; settling it locally frees its slot in the session
    if (delivery.remote_settled) delivery.update(true);
    else delivery.update(true, txnId === undefined ? outcome() : outcomes.transactional(txnId, outcome()));
  }

  private topUp(): void {
    if (this.closed) return;
    const window = this.owner.options.producerCredit;
    const credit = this.link.credit;
    if (credit <= window / 2) this.link.add_credit(window - credit);
  }

  detached(): void {
    this.close();
  }

  close(): void {
    this.closed = true;
  }
}
