import { FerryError, isFerryError } from '../../errors.js';
import type { CoreSession, Destination, ProducerHandle } from '../../core/index.js';
import { parseAddress } from './address.js';
import { AmqpConditionError, Link, amqpError, states, type DeliveryState, type SessionPort } from './link.js';
import { decodeMessage } from './mapping.js';
import type { TransferFrame } from './transfers.js';

/**
 * A link on which the client sends. It keeps the link's credit and puts a delivery in several
 * frames back together ([AMQP 2.6.14]); what a whole delivery means is its subclass's business.
 */
export abstract class ReceivingLink extends Link {
  /** Frames of the delivery under way, when it has more than one. */
  private parts: Buffer[] | undefined;
  private size = 0;
  private deliveryId = 0;
  private settled = false;
  private format = 0;
  private txnId: Buffer | undefined;
  protected closed = false;

  constructor(
    protected readonly session: SessionPort,
    name: string,
    handle: number,
    remoteHandle: number,
  ) {
    super(name, handle, remoteHandle);
  }

  /** The whole of one delivery. */
  protected abstract message(deliveryId: number, settled: boolean, payload: Buffer, format: number, txnId: Buffer | undefined): void;

  transfer(frame: TransferFrame): void {
    // [AMQP 2.6.5] after the broker's detach, transfers the client sent before it heard of it are dropped
    if (this.detachSent) return;
    if (frame.aborted) {
      // [AMQP 2.6.14] an aborted delivery is dropped and counts as settled
      this.parts = undefined;
      this.size = 0;
      return;
    }
    if (this.parts === undefined) {
      // [AMQP 2.6.7] a transfer needs link credit; one the client sent before it heard its credit taken back still counts
      if (this.credit <= 0) {
        if (this.revoked <= 0) throw new AmqpConditionError('amqp:link:transfer-limit-exceeded', `transfer on link "${this.name}" without link credit`);
        this.revoked--;
        this.credit++;
      }
      if (frame.deliveryId === undefined) throw new FerryError('FERRY_AMQP_DECODE', 'the first transfer of a delivery needs a delivery-id');
      this.credit--;
      this.deliveryCount++;
      if (!this.countBytes(frame.payload.length, true)) return;
      if (!frame.more) {
        this.message(frame.deliveryId, frame.settled, frame.payload, frame.format, frame.txnId);
        return;
      }
      this.parts = [frame.payload];
      this.deliveryId = frame.deliveryId;
      this.settled = frame.settled;
      this.format = frame.format;
      this.txnId = frame.txnId;
      return;
    }
    if (!this.countBytes(frame.payload.length, false)) return;
    // views of the input chunks: the socket hands out a fresh buffer per read
    this.parts.push(frame.payload);
    if (frame.settled) this.settled = true;
    if (frame.txnId !== undefined) this.txnId = frame.txnId;
    if (frame.more) return;
    const parts = this.parts;
    this.parts = undefined;
    this.message(this.deliveryId, this.settled, Buffer.concat(parts, this.size), this.format, this.txnId);
  }

  /**
   * Counts a frame's payload. A delivery past amqp.maxMessageSize is dropped and the link detached
   * with message-size-exceeded, a link error [AMQP 2.8.15]: the client's other links and what
   * they already sent go on. False when that happened.
   */
  private countBytes(size: number, first: boolean): boolean {
    this.size = first ? size : this.size + size;
    const limit = this.session.owner.options.maxMessageSize;
    if (this.size <= limit) return true;
    this.parts = undefined;
    this.size = 0;
    this.close();
    this.session.detach(this, amqpError(new AmqpConditionError('amqp:link:message-size-exceeded', `message larger than ${limit} bytes (amqp.maxMessageSize)`)));
    return false;
  }

  /** Credit taken back from the client (see `revokeCredit`) that transfers already on their way may still use. */
  private revoked = 0;

  /**
   * Takes back the credit the client holds, with a flow of link-credit 0 [AMQP 2.6.7]: a queue
   * full with memoryPolicy block must not take up to a whole window more of the client's messages.
   */
  protected revokeCredit(): void {
    if (this.closed || this.credit <= 0) return;
    this.revoked += this.credit;
    this.credit = 0;
    this.session.flow(this);
  }

  /** Gives the client credit up to `window` once it has used half. */
  protected topUp(window: number): void {
    if (this.closed || this.credit > window / 2) return;
    this.credit = window;
    this.session.flow(this);
  }

  detached(): void {
    this.close();
  }

  close(): void {
    this.closed = true;
  }
}

/**
 * A link on which the client sends messages: every message it transfers becomes a core send. The
 * target's address fixes the destination; a link without one is an anonymous relay and each
 * message's `to` says where it goes.
 *
 * A delivery the client did not settle is settled with accepted once core has it, and for a
 * persistent message only once the store has synced it or its consumers have acknowledged it
 * (CoreSession.send's promise), so settlement means what a STOMP receipt means. A message core refuses (a bad destination, a payload that does
 * not decode) is settled with rejected and its error; the link stays. Credit is given in
 * `amqp.producerCredit` portions and topped up when half is used.
 */
export class ProducerLink extends ReceivingLink {
  /** The store's sync this link's latest deliveries wait for, and their ids. */
  private waitingOn: Promise<void> | undefined;
  private waiting: number[] = [];
  /** A send filled a queue with memoryPolicy block: no credit is given until it has room. */
  private held = false;
  /** The link as core's producer events show it (ActiveMQ's producer advisories), while attached. */
  private producer: ProducerHandle | undefined;

  constructor(
    session: SessionPort,
    name: string,
    handle: number,
    remoteHandle: number,
    private readonly core: CoreSession,
    private readonly destination: Destination | undefined,
  ) {
    super(session, name, handle, remoteHandle);
  }

  /** Gives the client its first credit. */
  start(): void {
    this.producer = this.core.openProducer(this.destination);
    this.topUp(this.session.owner.options.producerCredit);
  }

  override close(): void {
    super.close();
    this.producer?.close();
    this.producer = undefined;
    this.deleteDynamicNode();
  }

  protected message(deliveryId: number, settled: boolean, payload: Buffer, format: number, txnId: Buffer | undefined): void {
    let durable: Promise<void> | null;
    try {
      if (format !== 0) throw new FerryError('FERRY_AMQP_PROTOCOL', `message format ${format} is not supported; only 0 (a bare AMQP message) is`);
      const { fields, to, toCapabilities, userId } = decodeMessage(payload, Date.now());
      // as RabbitMQ validates it: a user-id is the checked one only when it is the sender's own user
      if (userId !== undefined && userId === this.core.connection.principal.username) fields.userId = userId;
      let destination = this.destination;
      if (destination === undefined) {
        if (to === undefined || to === '') throw new FerryError('FERRY_DESTINATION_INVALID', 'a message on an anonymous-relay link needs a "to" address');
        destination = parseAddress(to, toCapabilities);
      }
      const txName = txnId === undefined ? undefined : this.session.owner.transactionName(txnId);
      fields.destination = destination;
      durable = this.core.send(fields, txName);
      this.holdFor(this.core.roomAfterSend);
    } catch (err) {
      if (!isFerryError(err)) throw err;
      if (!settled) this.settle(deliveryId, states.rejected(amqpError(err)), txnId);
      if (!this.held) this.topUp(this.session.owner.options.producerCredit);
      return;
    }
    if (!settled) {
      if (durable === null) this.settle(deliveryId, undefined, txnId);
      else this.settleWhenDurable(durable, deliveryId, txnId);
    }
    if (!this.held) this.topUp(this.session.owner.options.producerCredit);
  }

  /**
   * Producer flow control for this link only: the credit the client holds is taken back, and none
   * comes until the queue has room; other links of the connection go on.
   */
  private holdFor(room: Promise<void> | undefined): void {
    if (room === undefined || this.held) return;
    this.held = true;
    this.revokeCredit();
    void room.then(() => {
      this.held = false;
      this.topUp(this.session.owner.options.producerCredit);
    });
  }

  /**
   * Settles once the send's promise resolves. Sends that wait only for one store sync share its
   * promise (group commit), so deliveries waiting on it are gathered here and settled by one
   * callback: no closures per message. A message that may be confirmed once consumed has its own.
   */
  private settleWhenDurable(durable: Promise<void>, deliveryId: number, txnId: Buffer | undefined): void {
    if (durable === this.waitingOn && txnId === undefined) {
      this.waiting.push(deliveryId);
      return;
    }
    const ids = [deliveryId];
    if (txnId === undefined) {
      this.waitingOn = durable;
      this.waiting = ids;
    }
    durable.then(
      () => {
        if (this.waitingOn === durable) this.waitingOn = undefined;
        for (const id of ids) this.settle(id, undefined, txnId);
      },
      (err: unknown) => {
        if (this.waitingOn === durable) this.waitingOn = undefined;
        this.session.owner.logger.warn({ event: 'amqp.send-failed', code: isFerryError(err) ? err.code : undefined, message: err instanceof Error ? err.message : String(err) }, 'a message could not be made durable');
        for (const id of ids) this.settle(id, states.rejected(amqpError(err)), txnId);
      },
    );
  }

  /** Settles with `outcome` (undefined: accepted), inside the transaction's state when there is one. */
  private settle(deliveryId: number, outcome: DeliveryState | undefined, txnId: Buffer | undefined): void {
    this.session.settle(deliveryId, txnId === undefined ? outcome : states.transactional(txnId, outcome ?? states.accepted));
  }
}
