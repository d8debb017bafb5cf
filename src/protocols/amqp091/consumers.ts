import { randomBytes } from 'node:crypto';
import type { ConsumerHandle, CoreConnection, CoreSession, Delivery, DeliverySink } from '../../core/index.js';
import type { TransportConnection } from '../../transport/index.js';
import { shortString, writeContent } from './delivery.js';
import { Amqp091Error, Reply } from './errors.js';
import { Typed } from './field-table.js';
import { decodedProperties, propertiesOf, redeliveryProperties } from './mapping.js';
import type { MethodArgs, MethodName } from './methods.js';
import { REPLY_QUEUE, replyKeyOf, type DirectReplyTo } from './reply-to.js';

/** What the consumers need of their channel (`Amqp091Channel`). */
export interface ConsumerChannel {
  readonly id: number;
  readonly isOpen: boolean;
  readonly flowActive: boolean;
  readonly txId: string | undefined;
  readonly core: CoreConnection;
  readonly coreSession: CoreSession;
  readonly replyTo: DirectReplyTo;
  readonly host: {
    readonly transport: TransportConnection;
    readonly frameMax: number;
    readonly cancelNotify: boolean;
    noteWrite(): void;
    fail(err: unknown, channel: number, classId: number, methodId: number): void;
  };
  send<M extends MethodName>(name: M, args: MethodArgs<M>): void;
  queueName(name: string): string;
}

/** No prefetch limit: 0-9-1's prefetch-count 0, and a no-ack consumer. */
const UNLIMITED = 0x7fffffff;

/** A delivery the client has not acknowledged yet, by its channel-wide delivery tag. */
interface Unacked {
  readonly consumer: ChannelConsumer;
  readonly coreTag: number;
  readonly size: number;
}

/**
 * One basic.consume (or one basic.get): the sink core delivers to. A consumer the client cancels
 * while it still has unacknowledged deliveries leaves its queue but stays open in core, holding
 * them, until they are settled: the client may still acknowledge them, as RabbitMQ allows.
 */
class ChannelConsumer implements DeliverySink {
  handle!: ConsumerHandle;
  /** Cancelled by the client or the broker: it takes nothing more. */
  stopped = false;
  unacked = 0;
  /** Stands for core's getter of a queue in one basic.get: settling through it neither closes nor wakes it. */
  readonly single: boolean;

  constructor(
    readonly consumers: Consumers,
    readonly tag: string,
    readonly tagBytes: Buffer,
    readonly noAck: boolean,
    single: boolean,
  ) {
    this.single = single;
  }

  deliver(delivery: Delivery): void {
    this.consumers.deliver(this, delivery);
  }

  isWritable(): boolean {
    return this.consumers.channel.flowActive && this.consumers.channel.host.transport.isWritable();
  }

  onWritable(resume: () => void): void {
    this.consumers.channel.host.transport.onWritable(resume);
  }

  hasCredit(): boolean {
    if (this.stopped || this.consumers.servedThisPass(this)) return false;
    return this.consumers.hasChannelCredit();
  }

  /** Core closes the consumer: its queue was deleted. */
  cancelled(): void {
    this.consumers.brokerCancelled(this);
  }
}

/** The channel's consumers, its delivery tags and what is unacknowledged, and basic.qos. */
export class Consumers {
  private readonly byTag = new Map<string, ChannelConsumer>();
  /** In delivery-tag order (tags only grow), so an acknowledgement with `multiple` walks from the front. */
  private readonly unacked = new Map<number, Unacked>();
  private nextDeliveryTag = 1;
  /** Unacknowledged deliveries to consumers, and their bytes: what basic.get took is not held against prefetch, as in RabbitMQ. */
  private consumed = 0;
  private consumedBytes = 0;
  /** basic.qos with global=false: the prefetch of each consumer, those opened before it too (see `qos`). */
  private consumerPrefetch = 0;
  /** basic.qos with global=true: the limit for the whole channel. */
  private channelPrefetch = 0;
  private prefetchSize = 0;
  /** While the channel's credit is shared out (`wakeAll`): the consumers that took a message in the current pass. */
  private pass: Set<ChannelConsumer> | undefined;
  /** Where the next sharing out starts, so that the consumer woken first takes turns. */
  private wakeFrom = 0;

  constructor(readonly channel: ConsumerChannel) {}

  qos(a: MethodArgs<'basic.qos'>): void {
    if (a.global) {
      this.channelPrefetch = a.prefetchCount;
      this.prefetchSize = a.prefetchSize;
    } else {
      this.consumerPrefetch = a.prefetchCount;
      if (a.prefetchSize !== 0) this.prefetchSize = a.prefetchSize;
      // RabbitMQ applies it to later consumers only, but kombu (so Celery) takes a broker that does
      // not call itself RabbitMQ for one with the specification's channel-wide global=false, and
      // raises it as ETA tasks arrive and wait unacknowledged: left at its first value, a worker
      // holding that many ETA tasks would take nothing else until they are due
      const prefetch = a.prefetchCount === 0 ? UNLIMITED : a.prefetchCount;
      for (const c of this.byTag.values()) if (!c.noAck && !c.stopped) c.handle.setPrefetch?.(prefetch);
    }
    this.channel.send('basic.qos-ok', {});
    this.wakeAll();
  }

  hasChannelCredit(): boolean {
    if (this.channelPrefetch !== 0 && this.consumed >= this.channelPrefetch) return false;
    // at least one message goes out whatever its size, as the specification asks of prefetch-size
    if (this.prefetchSize !== 0 && this.consumed > 0 && this.consumedBytes >= this.prefetchSize) return false;
    return true;
  }

  consume(a: MethodArgs<'basic.consume'>): void {
    const queue = this.channel.queueName(a.queue);
    const tag = a.consumerTag === '' ? `amq.ctag-${randomBytes(16).toString('base64url')}` : a.consumerTag;
    if (this.byTag.has(tag)) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.notAllowed, `attempt to reuse consumer tag '${tag}'`);
    const consumer = new ChannelConsumer(this, tag, shortString(tag), a.noAck, false);
    const priority = a.arguments.get('x-priority');
    const priorityValue = numberArgument(priority);
    // Ferry's delivery lease (docs/delivery-lease.md): unacknowledged past it, a message returns to the queue
    const ackTimeout = numberArgument(a.arguments.get('x-ack-timeout'));
    if (ackTimeout !== undefined && (!Number.isInteger(ackTimeout) || ackTimeout < 1)) {
      throw new Amqp091Error('FERRY_PRECONDITION_FAILED', Reply.preconditionFailed, `x-ack-timeout must be a positive number of milliseconds, got ${String(ackTimeout)}`);
    }
    const destination = queue === REPLY_QUEUE ? this.channel.replyTo.open(a.noAck) : { kind: 'queue' as const, name: queue };
    this.byTag.set(tag, consumer);
    try {
      consumer.handle = this.channel.coreSession.subscribe({
        destination,
        sink: consumer,
        prefetch: a.noAck || this.consumerPrefetch === 0 ? UNLIMITED : this.consumerPrefetch,
        ackMode: a.noAck ? 'auto' : 'individual',
        soleConsumer: a.exclusive,
        // RabbitMQ: a consume names a declared queue, and creates none
        existing: true,
        ...(priorityValue === undefined ? {} : { priority: priorityValue }),
        ackTimeout,
        noLocal: a.noLocal,
      });
    } catch (err) {
      this.byTag.delete(tag);
      if (destination.temporary === true) this.channel.replyTo.close();
      throw err;
    }
    if (destination.temporary === true) this.channel.replyTo.opened(tag);
    // core's first dispatch to a new consumer is a microtask away, so consume-ok goes out before it
    if (!a.noWait) this.channel.send('basic.consume-ok', { consumerTag: tag });
  }

  cancel(tag: string, noWait: boolean): void {
    const consumer = this.byTag.get(tag);
    if (!noWait) this.channel.send('basic.cancel-ok', { consumerTag: tag });
    if (consumer === undefined) return;
    this.byTag.delete(tag);
    consumer.stopped = true;
    // what it has unacknowledged can still be settled, but it is no consumer of the queue any more
    if (consumer.unacked === 0) consumer.handle.close();
    else consumer.handle.stopConsuming();
    this.channel.replyTo.close(tag);
  }

  /** Core closed a consumer (its queue was deleted): the client hears a basic.cancel if it said it can. */
  brokerCancelled(consumer: ChannelConsumer): void {
    if (consumer.stopped) return;
    consumer.stopped = true;
    this.byTag.delete(consumer.tag);
    // its deliveries keep their tags: settling them, as RabbitMQ allows, does nothing, the queue being gone
    if (this.channel.isOpen && this.channel.host.cancelNotify) this.channel.send('basic.cancel', { consumerTag: consumer.tag, noWait: true });
  }

  /** basic.get: core hands over the next waiting message, if any, through the session's getter for that queue. */
  get(a: MethodArgs<'basic.get'>): void {
    const queue = this.channel.queueName(a.queue);
    const ackMode = a.noAck ? 'auto' : 'individual';
    const got = this.channel.coreSession.get(queue, ackMode);
    if (got === undefined) {
      // the first message's body is being read back from the store (PostgreSQL past the body
      // cache): the answer waits for it, as the client waits for its answer
      const read = this.channel.coreSession.whenGettable(queue, ackMode);
      if (read === undefined) this.channel.send('basic.get-empty', { clusterId: '' });
      else
        void read.then(() => {
          if (!this.channel.isOpen) return;
          try {
            this.get(a);
          } catch (err) {
            this.channel.host.fail(err, this.channel.id, 60, 70);
          }
        });
      return;
    }
    const getter = new ChannelConsumer(this, '', Buffer.alloc(0), a.noAck, true);
    getter.handle = got.consumer;
    const deliveryTag = this.track(getter, got.delivery);
    this.write(got.delivery, 71, getter.tagBytes, deliveryTag, got.messageCount);
  }

  deliver(consumer: ChannelConsumer, d: Delivery): void {
    this.pass?.add(consumer);
    const deliveryTag = this.track(consumer, d);
    this.write(d, 60, consumer.tagBytes, deliveryTag, 0);
  }

  private track(consumer: ChannelConsumer, d: Delivery): number {
    const deliveryTag = this.nextDeliveryTag++;
    if (!consumer.noAck) {
      const size = d.message.body.length;
      this.unacked.set(deliveryTag, { consumer, coreTag: d.tag, size });
      consumer.unacked++;
      if (!consumer.single) {
        this.consumed++;
        this.consumedBytes += size;
      }
    }
    return deliveryTag;
  }

  private write(d: Delivery, methodId: 60 | 71, tag: Buffer, deliveryTag: number, count: number): void {
    const message = d.message;
    const now = Date.now();
    let properties = propertiesOf(message, now);
    if (d.deliveryCount > 1) properties = redeliveryProperties(d.deliveryCount, decodedProperties(properties));
    const host = this.channel.host;
    // another protocol's send to a temporary queue: its key is the one a 0-9-1 client would have replied to
    const destination = message.destination;
    const routingKey = message.routingKey ?? (destination.kind === 'queue' && destination.temporary === true ? replyKeyOf(destination) : destination.name);
    // another protocol's send to a core topic reached this queue through a binding on amq.topic, as RabbitMQ's STOMP and MQTT plugins publish
    const exchange = message.exchange ?? (destination.kind === 'topic' ? 'amq.topic' : '');
    writeContent(host.transport, this.channel.id, methodId, tag, deliveryTag, d.redelivered, exchange, routingKey, count, properties, message.body, host.frameMax);
    host.noteWrite();
  }

  ack(deliveryTag: number, multiple: boolean): void {
    const woken = new Set<ChannelConsumer>();
    this.settle(deliveryTag, multiple, (u) => {
      if (!u.consumer.handle.isClosed) u.consumer.handle.acknowledgeOnly(u.coreTag, this.channel.txId);
      woken.add(u.consumer);
    });
    for (const c of woken) this.afterSettle(c);
  }

  nack(deliveryTag: number, multiple: boolean, requeue: boolean): void {
    const woken = new Set<ChannelConsumer>();
    this.settle(deliveryTag, multiple, (u) => {
      // a requeue is a counted redelivery (it raises x-delivery-count); no requeue dead-letters
      if (u.consumer.handle.isClosed) return;
      if (requeue) u.consumer.handle.redeliver(u.coreTag);
      else u.consumer.handle.rejectOnly(u.coreTag, this.channel.txId);
      woken.add(u.consumer);
    });
    for (const c of woken) this.afterSettle(c);
  }

  /** basic.recover: every unacknowledged delivery of the channel goes back to its queue, redelivered. */
  recover(): void {
    const woken = new Set<ChannelConsumer>();
    for (const [tag, u] of [...this.unacked]) {
      this.forget(tag, u);
      if (!u.consumer.handle.isClosed) u.consumer.handle.redeliver(u.coreTag);
      woken.add(u.consumer);
    }
    for (const c of woken) this.afterSettle(c);
  }

  private settle(deliveryTag: number, multiple: boolean, each: (u: Unacked) => void): void {
    if (!multiple || deliveryTag === 0) {
      if (multiple && deliveryTag === 0) {
        for (const [tag, u] of [...this.unacked]) {
          this.forget(tag, u);
          each(u);
        }
        return;
      }
      const u = this.unacked.get(deliveryTag);
      if (u === undefined) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.preconditionFailed, `unknown delivery tag ${deliveryTag}`);
      this.forget(deliveryTag, u);
      return each(u);
    }
    if (!this.unacked.has(deliveryTag)) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.preconditionFailed, `unknown delivery tag ${deliveryTag}`);
    for (const [tag, u] of this.unacked) {
      if (tag > deliveryTag) break;
      this.forget(tag, u);
      each(u);
    }
  }

  private forget(tag: number, u: Unacked): void {
    this.unacked.delete(tag);
    u.consumer.unacked--;
    if (!u.consumer.single) {
      this.consumed--;
      this.consumedBytes -= u.size;
    }
  }

  /** After a settlement: a cancelled consumer with nothing left closes; the others (all of the channel's, under a channel-wide limit) may take more. */
  private afterSettle(consumer: ChannelConsumer): void {
    if (consumer.single) return;
    if (consumer.stopped && consumer.unacked === 0) {
      if (!consumer.handle.isClosed) consumer.handle.close();
      return;
    }
    if (this.channelPrefetch !== 0 || this.prefetchSize !== 0) this.wakeAll();
    else if (!consumer.handle.isClosed) consumer.handle.wake();
  }

  servedThisPass(consumer: ChannelConsumer): boolean {
    return this.pass !== undefined && this.pass.has(consumer);
  }

  /**
   * Under a channel-wide limit, waking each consumer in turn would let the first one's queue take
   * all the credit (core dispatches at once), and the channel's other queues would starve while it
   * has messages. So the credit goes out as RabbitMQ shares it: passes of at most one message per
   * consumer, the first consumer of each sharing out taking turns.
   */
  wakeAll(): void {
    const open = [...this.byTag.values()].filter((c) => !c.handle.isClosed);
    if (this.channelPrefetch === 0 && this.prefetchSize === 0) {
      for (const c of open) c.handle.wake();
      return;
    }
    if (open.length === 0 || this.pass !== undefined) return;
    const start = this.wakeFrom % open.length;
    const order = [...open.slice(start), ...open.slice(0, start)];
    this.wakeFrom = start + 1;
    try {
      for (;;) {
        this.pass = new Set();
        for (const c of order) if (!c.handle.isClosed) c.handle.wake();
        if (this.pass.size === 0 || !this.hasChannelCredit()) return;
      }
    } finally {
      this.pass = undefined;
    }
  }

  /** The channel is closing: every consumer closes in core, and its unacknowledged messages go back. */
  end(): void {
    const all = new Set<ChannelConsumer>([...this.byTag.values(), ...[...this.unacked.values()].map((u) => u.consumer)]);
    this.byTag.clear();
    this.unacked.clear();
    this.consumed = 0;
    this.consumedBytes = 0;
    for (const c of all) {
      c.stopped = true;
      if (c.handle !== undefined && !c.handle.isClosed) c.handle.close();
    }
  }
}

/** A numeric consumer argument as amqplib and pika send them (a typed value, a bigint, a number); undefined otherwise. */
function numberArgument(value: unknown): number | undefined {
  return value instanceof Typed ? Number(value.value) : typeof value === 'bigint' ? Number(value) : typeof value === 'number' ? value : undefined;
}
