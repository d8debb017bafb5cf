import { isFerryError } from '../../errors.js';
import type { ConsumerHandle, CoreConnection, Delivery, DeliverySink } from '../../core/index.js';
import { Descriptor, descriptorOf, fieldsOf, flag, outcomeOf, transactionOf, type RheaDelivery, type RheaLink } from './engine.js';
import { deliveryTag, type LinkHandler, type LinkOwner } from './link.js';
import { encodeHeader, messageEncoding } from './mapping.js';
import { sendTransfer } from './transfers.js';

/** A durable subscription this link consumes from, removed when the client detaches with closed=true. */
export interface DurableName {
  readonly connection: CoreConnection;
  /** The client's container id, which owns the subscription. */
  readonly owner: string;
  readonly name: string;
}

/**
 * A link on which the broker sends (the client's receiver): the sink of one core consumer. Link
 * credit drives dispatch: the sink reports credit only while the client has granted some that no
 * delivery has taken yet, and the client's flow wakes the consumer.
 *
 * Settlement: a link that asked for settled deliveries gets them pre-settled and the consumer
 * acknowledges as it hands them over (at most once); otherwise each delivery waits for the client's
 * disposition: accepted acknowledges, released returns it uncounted, modified with delivery-failed
 * or undeliverable-here returns it as a counted redelivery (core cannot yet keep it from this very
 * consumer), rejected dead-letters it. Inside a transaction (a transactional-state) acceptances and
 * rejections wait for the commit; releases and modifications apply at once.
 */
export class ConsumerLink implements DeliverySink, LinkHandler {
  consumer: ConsumerHandle | undefined;
  /** Deliveries handed to rhea on this link. */
  private handed = 0;
  /** Credit given up by draining. */
  private advanced = 0;
  private drainCheckPending = false;
  private closed = false;

  constructor(
    private readonly link: RheaLink,
    private readonly owner: LinkOwner,
    readonly presettled: boolean,
    private readonly durable: DurableName | undefined,
  ) {}

  // DeliverySink

  deliver(delivery: Delivery): void {
    const message = delivery.message;
    const rest = messageEncoding(message);
    const header = encodeHeader(message, delivery.deliveryCount - 1, Date.now());
    this.handed++;
    if (sendTransfer(this.owner.transport, this.link, header, rest, delivery.tag, this.presettled)) return;
    const sent = this.link.send(Buffer.concat([header, rest], header.length + rest.length), deliveryTag(delivery.tag), 0);
    if (!this.presettled) sent.ferryTag = delivery.tag;
  }

  isWritable(): boolean {
    return this.owner.transport.isWritable();
  }

  onWritable(resume: () => void): void {
    this.owner.transport.onWritable(resume);
  }

  /**
   * Credit the client granted that no delivery has taken yet. rhea counts a delivery against the
   * credit only when it writes the transfer (on the next tick), so deliveries handed over in this
   * turn are subtracted here; without that, one flow of credit 1 would let core hand over as many
   * messages as the session's window holds.
   */
  hasCredit(): boolean {
    return !this.closed && this.available() > 0 && this.link.session.outgoing.available() > 0;
  }

  private available(): number {
    return this.link.credit - (this.handed + this.advanced - this.link.delivery_count);
  }

  // flow

  /** The client granted credit (or the session's window opened). */
  sendable(): void {
    if (this.closed) return;
    this.consumer?.wake();
    this.drainIfAsked();
  }

  /**
   * The client asked for a drain: send what there is, then give the rest of the credit back by
   * advancing the delivery count, once every handed delivery has gone out.
   */
  drainIfAsked(): void {
    const link = this.link;
    if (this.closed || link._draining !== true) return;
    this.consumer?.wake();
    if (this.available() <= 0) return;
    const unsent = this.handed + this.advanced - link.delivery_count;
    if (unsent > 0) {
      if (!this.drainCheckPending) {
        this.drainCheckPending = true;
        // rhea writes handed deliveries on the next tick; look again after it
        process.nextTick(() => {
          this.drainCheckPending = false;
          this.drainIfAsked();
        });
      }
      return;
    }
    // rhea's own drain step advances the delivery count by the remaining credit and sets drain in the flow
    this.advanced += link.credit;
    link._drained = true;
    link.session._write_flow(link);
    link._draining = false;
  }

  // settlement

  /** A disposition from the client for one of this link's deliveries. */
  disposition(delivery: RheaDelivery, state: unknown, settled: boolean): void {
    const tag = delivery.ferryTag;
    const consumer = this.consumer;
    if (tag === undefined || consumer === undefined) return;
    const txnId = transactionOf(state);
    const outcome = outcomeOf(state);
    let code = outcome === undefined ? undefined : descriptorOf(outcome);
    if (code === undefined) {
      // settled without an outcome: taken as accepted, as other brokers do
      if (!settled) return;
      code = Descriptor.accepted;
    }
    if (code === Descriptor.received) return;
    const tx = txnId === undefined ? undefined : this.owner.transactionName(txnId);
    delivery.ferryTag = undefined;
    try {
      switch (code) {
        case Descriptor.accepted:
          consumer.acknowledge(tag, tx);
          break;
        case Descriptor.rejected:
          consumer.reject(tag, tx);
          break;
        case Descriptor.modified: {
          const fields = fieldsOf(outcome!);
          if (flag(fields[0]) || flag(fields[1])) consumer.redeliver(tag);
          else consumer.release(tag);
          break;
        }
        default:
          consumer.release(tag);
      }
    } catch (err) {
      // the consumer has gone (its messages went back to the queue when it closed): nothing to settle
      if (!isFerryError(err, 'FERRY_DELIVERY_NOT_FOUND') && !isFerryError(err, 'FERRY_CONSUMER_NOT_FOUND')) throw err;
    }
  }

  // life cycle

  detached(closed: boolean): void {
    this.close();
    if (closed && this.durable !== undefined) {
      try {
        this.durable.connection.deleteDurableSubscription(this.durable.name, this.durable.owner);
      } catch (err) {
        if (!isFerryError(err)) throw err;
        this.owner.logger.debug({ event: 'amqp.unsubscribe-failed', name: this.durable.name, err }, 'durable subscription not removed');
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.consumer?.close();
    this.forgetDeliveries();
  }

  /**
   * Marks this link's deliveries settled in the session's books. rhea frees a session's delivery
   * slots only from the oldest one on, so deliveries of a closed link that nobody will settle would
   * otherwise block the session; core has already taken their messages back.
   */
  private forgetDeliveries(): void {
    const outgoing = this.link.session.outgoing;
    const head = outgoing.deliveries.get_head();
    const tail = outgoing.deliveries.get_tail();
    if (head === undefined || tail === undefined) return;
    for (let id = head.id; id <= tail.id; id++) {
      const d = outgoing.deliveries.by_id(id);
      if (d === undefined || d.link !== this.link) continue;
      d.ferryTag = undefined;
      d.settled = true;
      d.remote_settled = true;
    }
    this.link.connection._register();
  }
}
