import { isFerryError } from '../../errors.js';
import type { ConsumerHandle, CoreConnection, Delivery, DeliverySink } from '../../core/index.js';
import { AmqpSymbol, type AmqpValue } from './codec.js';
import { Composite, codeOf, fieldsOf } from './frames.js';
import { AmqpConditionError, Link, amqpError, type SessionPort } from './link.js';
import { annotationChanges } from './mapping.js';

/** A durable subscription this link consumes from, removed when the client detaches with closed=true. */
export interface DurableName {
  readonly connection: CoreConnection;
  /** The client's container id, which owns the subscription. */
  readonly owner: string;
  readonly name: string;
}

function flag(v: AmqpValue | undefined): boolean {
  return v === true;
}

/**
 * The dead-letter cause of a rejected outcome [AMQP 3.4.2]: its error's condition and description,
 * which say why the client refused the message, after core's own words (an operator reads them in
 * the copy's `dlqDeliveryFailureCause`, as ActiveMQ keeps a JMS client's poison cause there).
 */
function rejectionCause(outcome: AmqpValue): string {
  const [condition, description] = fieldsOf(fieldsOf(outcome)[0]);
  const name = condition instanceof AmqpSymbol ? condition.name : typeof condition === 'string' ? condition : undefined;
  const said = [name, typeof description === 'string' && description !== '' ? description : undefined].filter((part) => part !== undefined);
  return said.length === 0 ? REJECTED : `${REJECTED}: ${said.join(': ')}`;
}
const REJECTED = 'rejected by the consumer';

/**
 * A link on which the broker sends (the client's receiver): the sink of one core consumer. Link
 * credit drives dispatch: the sink reports credit only while the client has granted some that no
 * delivery has taken yet (and the client's session window has room), and the client's flow wakes
 * the consumer.
 *
 * Settlement: a link that asked for settled deliveries gets them pre-settled and the consumer
 * acknowledges as it hands them over (at most once); otherwise each delivery waits for the client's
 * disposition: accepted acknowledges, released returns it uncounted, modified with delivery-failed
 * returns it as a counted redelivery, modified with undeliverable-here returns it for the queue's
 * other consumers and never again to this link (counted when the delivery failed too), and a
 * modified outcome's message-annotations are combined with the message's; rejected dead-letters it. Inside a transaction (a transactional-state) acceptances and rejections wait for
 * the commit; releases and modifications apply at once.
 */
export class ConsumerLink extends Link implements DeliverySink {
  consumer: ConsumerHandle | undefined;
  private closed = false;

  constructor(
    private readonly session: SessionPort,
    name: string,
    handle: number,
    remoteHandle: number,
    readonly presettled: boolean,
    private readonly durable: DurableName | undefined,
    /** A browser (distribution-mode copy): it sees each waiting message once and takes none. */
    readonly browse = false,
  ) {
    super(name, handle, remoteHandle);
  }

  /** True once a browser has handed over every message it will. */
  private browsed = false;

  /** A browser's end: a drain under way completes, its credit running out ([AMQP 2.6.7]), which tells the client there is no more. */
  browseEnd(): void {
    this.browsed = true;
    if (this.drain && this.credit > 0 && !this.closed) this.session.drained(this);
  }

  /**
   * True when a drain can complete now: an ordinary consumer has sent what there was once it has
   * been woken, unless its next message waits on the store (its delivery mark being written, its
   * body read back: see `drainAfterStore`); a browser that has not reached its end may still have
   * messages coming, so its drain waits for `browseEnd`.
   */
  get drainable(): boolean {
    if (this.browse) return this.browsed;
    return this.consumer?.waitsOnStore !== true;
  }

  private drainCheck: NodeJS.Timeout | undefined;

  /**
   * A drain that could not complete because the next message waited on the store: the store lets it
   * go within milliseconds and core dispatches it then, so the drain is looked at again each
   * millisecond until it can complete, or the credit ran out with the messages that came.
   */
  drainAfterStore(): void {
    if (this.browse || this.drainCheck !== undefined) return;
    this.drainCheck = setTimeout(() => {
      this.drainCheck = undefined;
      if (this.closed || !this.drain || this.credit <= 0) return;
      if (this.drainable) this.session.drained(this);
      else this.drainAfterStore();
    }, 1);
  }

  // DeliverySink

  deliver(delivery: Delivery): void {
    const message = delivery.message;
    // the clock is read only for a message whose remaining ttl goes in its header
    this.session.sendTransfer(this, delivery.tag, message, delivery.deliveryCount - 1, delivery.firstAcquirer === true, message.expiration === 0 ? 0 : Date.now(), this.presettled);
    // a drain that the deliveries used up is over: the flow says so, as it would have with credit left
    if (this.drain && this.credit === 0) this.session.flow(this);
  }

  /**
   * Its queue was deleted: the broker ends the link with amqp:resource-deleted, a link error [AMQP
   * 2.8.15], so the client hears it while its session and other links go on.
   */
  cancelled(reason: string): void {
    this.close();
    this.session.detach(this, amqpError(new AmqpConditionError('amqp:resource-deleted', reason, 'FERRY_DESTINATION_NOT_FOUND')));
  }

  isWritable(): boolean {
    return this.session.owner.transport.isWritable();
  }

  onWritable(resume: () => void): void {
    this.session.owner.transport.onWritable(resume);
  }

  hasCredit(): boolean {
    return !this.closed && this.credit > 0 && this.session.canSend();
  }

  /** The client granted credit, or the session's window opened. */
  flowed(): void {
    if (!this.closed) this.consumer?.wake();
  }

  // settlement

  /**
   * A disposition from the client for one of this link's deliveries; true when its outcome is
   * terminal (the delivery is done with, whether or not the client settled it).
   */
  disposition(tag: number, state: AmqpValue, settled: boolean): boolean {
    const consumer = this.consumer;
    let txnId: Buffer | undefined;
    let outcome: AmqpValue = state;
    if (codeOf(state) === Composite.transactionalState) {
      const fields = fieldsOf(state);
      const id = fields[0];
      txnId = Buffer.isBuffer(id) ? id : undefined;
      outcome = fields[1] ?? null;
    }
    let code = codeOf(outcome);
    if (code === undefined) {
      // settled without an outcome: taken as accepted, as other brokers do
      if (!settled) return false;
      code = Composite.accepted;
    }
    // [AMQP 3.4.1] received is the one non-terminal state a receiver sends: here it says the client
    // is still working on the delivery, and extends its lease (docs/delivery-lease.md)
    if (code === Composite.received) {
      if (!settled && consumer !== undefined && !this.closed) consumer.extend(tag);
      return false;
    }
    if (consumer === undefined || this.closed) return true;
    const tx = txnId === undefined ? undefined : this.session.owner.transactionName(txnId);
    try {
      switch (code) {
        case Composite.accepted:
          consumer.acknowledge(tag, tx);
          break;
        case Composite.rejected:
          consumer.reject(tag, tx, rejectionCause(outcome));
          break;
        case Composite.modified: {
          // [AMQP 3.4.5] delivery-failed counts the attempt; undeliverable-here keeps the message
          // from this link, not from the link's peers on the queue (as Artemis does);
          // message-annotations are combined with the message's, in its queue and in its store record
          const [deliveryFailed, undeliverableHere, annotations] = fieldsOf(outcome);
          const changes = annotationChanges(annotations);
          if (flag(undeliverableHere)) consumer.refuse(tag, flag(deliveryFailed), changes);
          else if (flag(deliveryFailed)) consumer.redeliver(tag, changes);
          else consumer.release(tag, changes);
          break;
        }
        default:
          consumer.release(tag);
      }
    } catch (err) {
      // the consumer has gone (its messages went back to the queue when it closed): nothing to settle
      if (!isFerryError(err, 'FERRY_DELIVERY_NOT_FOUND') && !isFerryError(err, 'FERRY_CONSUMER_NOT_FOUND')) throw err;
    }
    return true;
  }

  // life cycle

  /** With `closed`, ends a durable subscription: its detach is answered once that is on disk (the promise). */
  detached(closed: boolean): Promise<void> | void {
    this.close();
    if (closed && this.durable !== undefined) {
      try {
        this.durable.connection.deleteDurableSubscription(this.durable.name, this.durable.owner);
        return this.durable.connection.synced();
      } catch (err) {
        if (!isFerryError(err)) throw err;
        this.session.owner.logger.debug({ event: 'amqp.unsubscribe-failed', name: this.durable.name, code: err.code, message: err.message }, 'durable subscription not removed');
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.drainCheck);
    this.consumer?.close();
    // core has taken the unsettled messages back; their slots in the session are free
    this.session.forget(this);
    this.deleteDynamicNode();
  }
}
