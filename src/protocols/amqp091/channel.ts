import type { CommittedPublish, CoreConnection, CoreSession, DroppedCount, Logger } from '../../core/index.js';
import type { TransportConnection } from '../../transport/index.js';
import { Consumers } from './consumers.js';
import { bindingSpec, declareExchange, queueArguments } from './declare.js';
import { shortString, writeContent } from './delivery.js';
import { Amqp091Error, Reply, replyText } from './errors.js';
import { decodeContentHeader, propertiesBytes, type BasicProperties } from './frames.js';
import { publishToInit } from './mapping.js';
import { type Method, type MethodArgs, type MethodName } from './methods.js';
import type { Amqp091Options } from './options.js';
import { DirectReplyTo, REPLY_QUEUE, replyQueueOfKey } from './reply-to.js';

/** What a channel needs of its connection. */
export interface ChannelHost {
  readonly transport: TransportConnection;
  readonly options: Amqp091Options;
  readonly logger: Logger;
  readonly core: CoreConnection | undefined;
  readonly frameMax: number;
  readonly user: string | undefined;
  readonly cancelNotify: boolean;
  send<M extends MethodName>(channel: number, name: M, args: MethodArgs<M>): void;
  noteWrite(): void;
  fail(err: unknown, channel: number, classId: number, methodId: number): void;
  /** Reads nothing more from the client until `stored` resolves, then answers (see `Amqp091Connection.replyWhenStored`). */
  replyWhenStored(stored: Promise<void>, reply: () => void): void;
  /** Stops reading publishes until `room` resolves (see `Amqp091Connection.holdPublishers`). */
  holdPublishers(room: Promise<void> | undefined): void;
  channelClosed(channel: number): void;
}

/** A basic.publish waiting for its content header and body frames. */
interface Incoming {
  readonly exchange: string;
  readonly routingKey: string;
  readonly mandatory: boolean;
  properties: BasicProperties | undefined;
  propertiesBytes: Buffer | undefined;
  size: number;
  received: number;
  parts: Buffer[];
}

/** A publish in confirm mode: its sequence number, and whether it is settled and how. */
interface Confirm {
  readonly tag: number;
  state: 'pending' | 'ack' | 'nack';
}

const BASIC = 60;
const MANDATORY = { mandatory: true } as const;
const PUBLISH = 40;

/**
 * One channel: its methods, the content of its publishes, publisher confirms and transactions.
 * Consumers and their deliveries are in `consumers.ts`.
 */
export class Amqp091Channel {
  private state: 'open' | 'closing' = 'open';
  private incoming: Incoming | undefined;
  private session: CoreSession | undefined;
  readonly consumers: Consumers;
  readonly replyTo = new DirectReplyTo(() => this.core);
  /** The queue the channel declared last: an empty queue name in later methods means it ([AMQP 0-9-1 queue]). */
  lastQueue = '';
  /** Publisher confirms: the next publish sequence number, 0 until confirm.select. */
  private confirmSeq = 0;
  private readonly confirms: Confirm[] = [];
  private confirmFlush = false;
  /** Settles once every confirm-mode publish so far has its outcome; null when none waits. */
  private confirmsSettled: Promise<void> | null = null;
  /** A channel exception's close waits for the confirms before it (`closeWith`); they still go out meanwhile. */
  private closeOwed = false;
  /** tx.select makes every later publish and acknowledgement part of a transaction, renewed at each commit and rollback. */
  txId: string | undefined;
  private txCount = 0;
  /**
   * The transaction's mandatory publishes: those its commit delivers to no queue (none was routed
   * to when published, or none of those is left) are returned then, as RabbitMQ returns them;
   * never when it rolls back or is abandoned.
   */
  private txMandatory: { readonly incoming: Incoming; readonly body: Buffer; readonly committed: CommittedPublish }[] = [];
  /** Every publish of the transaction: one a full reject-publish queue refused at the commit fails the commit. */
  private txPublished: CommittedPublish[] = [];
  flowActive = true;

  constructor(
    readonly id: number,
    readonly host: ChannelHost,
  ) {
    this.consumers = new Consumers(this);
  }

  get core(): CoreConnection {
    return this.host.core!;
  }

  get coreSession(): CoreSession {
    return (this.session ??= this.core.createSession());
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  send<M extends MethodName>(name: M, args: MethodArgs<M>): void {
    this.host.send(this.id, name, args);
  }

  /**
   * The answer to a change of exchanges, queues or bindings: it goes once the change is on disk, as
   * RabbitMQ's does; at once for a declaration of something transient, which nothing on disk holds.
   */
  private sendStored<M extends MethodName>(name: M, args: MethodArgs<M>, durable = true): void {
    if (durable) this.host.replyWhenStored(this.core.synced(), () => this.send(name, args));
    else this.send(name, args);
  }

  /** A purge-ok or delete-ok once its count is known (a queue still loading knows it once the store has read what it holds) and the change is on disk. */
  private sendCounted(name: 'queue.purge-ok' | 'queue.delete-ok', count: DroppedCount): void {
    if (typeof count === 'number') {
      this.sendStored(name, { messageCount: count });
      return;
    }
    let messageCount = 0;
    const counted = count.then((n) => {
      messageCount = n;
      return this.core.synced();
    });
    this.host.replyWhenStored(counted, () => this.send(name, { messageCount }));
  }

  method(m: Method): void {
    if (this.state === 'closing') {
      // [AMQP 0-9-1 channel.close] after its close the broker discards everything but close and close-ok
      // both sides closed at once: each answers the other's close
      if (m.name === 'channel.close') this.send('channel.close-ok', {});
      if (m.name === 'channel.close-ok' || m.name === 'channel.close') this.closed(false);
      return;
    }
    if (this.incoming !== undefined) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.unexpectedFrame, `expected content for basic.publish, got ${m.name}`);
    try {
      this.handle(m);
    } catch (err) {
      this.host.fail(err, this.id, m.classId, m.methodId);
    }
  }

  private handle(m: Method): void {
    const core = this.core;
    switch (m.name) {
      case 'channel.open':
        throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.channelError, `channel ${this.id} is already open`);
      case 'channel.close':
        this.send('channel.close-ok', {});
        return this.closed(true);
      case 'channel.close-ok':
        return;
      case 'channel.flow':
        this.flowActive = m.args.active;
        this.send('channel.flow-ok', { active: m.args.active });
        if (m.args.active) this.consumers.wakeAll();
        return;
      case 'channel.flow-ok':
        return;
      case 'exchange.declare':
        declareExchange(core, m.args);
        if (!m.args.noWait) this.sendStored('exchange.declare-ok', {}, m.args.durable);
        return;
      case 'exchange.delete':
        core.deleteExchange(m.args.exchange, m.args.ifUnused);
        if (!m.args.noWait) this.sendStored('exchange.delete-ok', {});
        return;
      case 'exchange.bind':
        core.bind(bindingSpec(m.args.source, { kind: 'exchange', name: m.args.destination }, m.args.routingKey, m.args.arguments));
        if (!m.args.noWait) this.sendStored('exchange.bind-ok', {});
        return;
      case 'exchange.unbind':
        core.unbind(bindingSpec(m.args.source, { kind: 'exchange', name: m.args.destination }, m.args.routingKey, m.args.arguments));
        if (!m.args.noWait) this.sendStored('exchange.unbind-ok', {});
        return;
      case 'queue.declare': {
        if (m.args.passive && m.args.queue === REPLY_QUEUE) {
          // RabbitMQ's answer, which Spring AMQP asks for before it relies on direct reply-to
          if (!m.args.noWait) this.send('queue.declare-ok', { queue: REPLY_QUEUE, messageCount: 0, consumerCount: 0 });
          return;
        }
        const declared = core.declareQueue(
          { name: m.args.queue, durable: m.args.durable, exclusive: m.args.exclusive, autoDelete: m.args.autoDelete, arguments: queueArguments(m.args.arguments) },
          m.args.passive,
        );
        this.lastQueue = declared.name;
        if (!m.args.noWait) this.sendStored('queue.declare-ok', { queue: declared.name, messageCount: declared.messageCount, consumerCount: declared.consumerCount }, m.args.durable);
        return;
      }
      case 'queue.bind':
        core.bind(bindingSpec(m.args.exchange, { kind: 'queue', name: this.queueName(m.args.queue) }, m.args.routingKey, m.args.arguments));
        if (!m.args.noWait) this.sendStored('queue.bind-ok', {});
        return;
      case 'queue.unbind':
        core.unbind(bindingSpec(m.args.exchange, { kind: 'queue', name: this.queueName(m.args.queue) }, m.args.routingKey, m.args.arguments));
        this.sendStored('queue.unbind-ok', {});
        return;
      case 'queue.purge': {
        const count = core.purgeQueue(this.queueName(m.args.queue));
        if (!m.args.noWait) this.sendCounted('queue.purge-ok', count);
        return;
      }
      case 'queue.delete': {
        const count = core.deleteQueue(this.queueName(m.args.queue), { ifUnused: m.args.ifUnused, ifEmpty: m.args.ifEmpty });
        if (!m.args.noWait) this.sendCounted('queue.delete-ok', count);
        return;
      }
      case 'basic.publish':
        if (m.args.immediate) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.notImplemented, 'immediate=true');
        this.incoming = { exchange: m.args.exchange, routingKey: m.args.routingKey, mandatory: m.args.mandatory, properties: undefined, propertiesBytes: undefined, size: 0, received: 0, parts: [] };
        return;
      case 'basic.qos':
        return this.consumers.qos(m.args);
      case 'basic.consume':
        return this.consumers.consume(m.args);
      case 'basic.cancel':
        return this.consumers.cancel(m.args.consumerTag, m.args.noWait);
      case 'basic.cancel-ok':
        return;
      case 'basic.get':
        return this.consumers.get(m.args);
      case 'basic.ack':
        return this.consumers.ack(m.args.deliveryTag, m.args.multiple);
      case 'basic.nack':
        return this.consumers.nack(m.args.deliveryTag, m.args.multiple, m.args.requeue);
      case 'basic.reject':
        return this.consumers.nack(m.args.deliveryTag, false, m.args.requeue);
      case 'basic.recover-async':
      case 'basic.recover':
        this.consumers.recover();
        if (m.name === 'basic.recover') this.send('basic.recover-ok', {});
        return;
      case 'confirm.select':
        if (this.txId !== undefined) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.preconditionFailed, 'cannot switch from tx to confirm mode');
        if (this.confirmSeq === 0) this.confirmSeq = 1;
        if (!m.args.noWait) this.send('confirm.select-ok', {});
        return;
      case 'tx.select':
        if (this.confirmSeq !== 0) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.preconditionFailed, 'cannot switch from confirm to tx mode');
        if (this.txId === undefined) this.beginTx();
        this.send('tx.select-ok', {});
        return;
      case 'tx.commit':
        return this.commit();
      case 'tx.rollback': {
        const txId = this.requireTx();
        this.core.rollback(txId);
        this.beginTx();
        this.send('tx.rollback-ok', {});
        return;
      }
      default:
        throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.commandInvalid, `${m.name} is not a method a client sends on a channel`);
    }
  }

  /** An empty queue name is the channel's last declared queue; with none declared yet, 404 on the channel. */
  queueName(name: string): string {
    if (name !== '') return name;
    if (this.lastQueue === '') throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.notFound, 'no previously declared queue');
    return this.lastQueue;
  }

  private requireTx(): string {
    if (this.txId === undefined) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.preconditionFailed, 'channel is not transactional');
    return this.txId;
  }

  private beginTx(): void {
    this.txMandatory = [];
    this.txPublished = [];
    this.txId = `amqp091:${this.id}:${++this.txCount}`;
    this.core.begin(this.txId);
  }

  private commit(): void {
    const txId = this.requireTx();
    const durable = this.core.commit(txId);
    for (const { incoming, body, committed } of this.txMandatory) if (committed.routed === 0) this.returnMessage(incoming, body);
    this.host.holdPublishers(this.core.roomAfterCommit);
    const refused = this.txPublished.some((committed) => committed.refused);
    this.beginTx();
    // RabbitMQ's answer when a queue refused some of it: what the other queues took stays
    if (refused) throw new Amqp091Error('FERRY_PRECONDITION_FAILED', Reply.preconditionFailed, 'partial tx completion');
    if (durable === null) return this.send('tx.commit-ok', {});
    durable.then(
      () => {
        if (this.state === 'open') this.send('tx.commit-ok', {});
      },
      (err: unknown) => this.host.fail(err, this.id, 90, 20),
    );
  }

  /** A content header frame: the publish it follows is now known in full but for its body. */
  contentHeader(payload: Buffer): void {
    if (this.state === 'closing') return;
    const incoming = this.incoming;
    if (incoming === undefined || incoming.properties !== undefined) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.unexpectedFrame, 'a content header where none was expected');
    const header = decodeContentHeader(payload);
    if (header.classId !== BASIC) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.unexpectedFrame, `a content header of class ${header.classId}, not basic`);
    incoming.properties = header.properties;
    // the message keeps a copy of the properties' bytes: the payload is a view of a socket read
    incoming.propertiesBytes = Buffer.from(propertiesBytes(payload));
    incoming.size = header.bodySize;
    if (header.bodySize > this.host.options.maxMessageSize) {
      this.incoming = undefined;
      return this.host.fail(
        new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.preconditionFailed, `message size ${header.bodySize} is larger than configured max size ${this.host.options.maxMessageSize}`),
        this.id,
        BASIC,
        PUBLISH,
      );
    }
    if (header.bodySize === 0) this.published(incoming, Buffer.alloc(0));
  }

  contentBody(payload: Buffer): void {
    if (this.state === 'closing') return;
    const incoming = this.incoming;
    if (incoming === undefined || incoming.properties === undefined) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.unexpectedFrame, 'a content body where none was expected');
    incoming.received += payload.length;
    if (incoming.received > incoming.size) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.frameError, `content bodies of ${incoming.received} bytes, more than the header's ${incoming.size}`);
    if (incoming.received === incoming.size && incoming.parts.length === 0) return this.published(incoming, payload);
    incoming.parts.push(payload);
    if (incoming.received === incoming.size) this.published(incoming, Buffer.concat(incoming.parts, incoming.size));
  }

  private published(incoming: Incoming, body: Buffer): void {
    this.incoming = undefined;
    try {
      this.publish(incoming, body);
    } catch (err) {
      this.host.fail(err, this.id, BASIC, PUBLISH);
    }
  }

  private publish(incoming: Incoming, body: Buffer): void {
    const seq = this.confirmSeq === 0 ? 0 : this.confirmSeq++;
    const directReply = this.replyTo.rewrite(incoming.properties!.replyTo);
    const init = publishToInit(incoming.properties!, incoming.propertiesBytes!, body, this.host.user, Date.now(), directReply);
    const temporaryQueue = incoming.exchange === '' ? replyQueueOfKey(incoming.routingKey) : undefined;
    const options = temporaryQueue === undefined ? (incoming.mandatory ? MANDATORY : undefined) : { mandatory: incoming.mandatory, temporaryQueue };
    const result = this.coreSession.publish(incoming.exchange, incoming.routingKey, init, this.txId, options);
    this.host.holdPublishers(this.coreSession.roomAfterSend);
    if (result.committed !== undefined) {
      this.txPublished.push(result.committed);
      if (incoming.mandatory) this.txMandatory.push({ incoming, body, committed: result.committed });
    } else if (incoming.mandatory && result.routed === 0) this.returnMessage(incoming, body);
    if (seq === 0) return;
    const confirm: Confirm = { tag: seq, state: 'pending' };
    this.confirms.push(confirm);
    if (result.refused) return this.settle(confirm, 'nack');
    if (result.durable === null) return this.settle(confirm, 'ack');
    const outcome = result.durable.then(
      () => this.settle(confirm, 'ack'),
      () => this.settle(confirm, 'nack'),
    );
    const before = this.confirmsSettled;
    const settled = before === null ? outcome : Promise.all([before, outcome]).then(() => undefined);
    this.confirmsSettled = settled;
    void settled.then(() => {
      if (this.confirmsSettled === settled) this.confirmsSettled = null;
    });
  }

  /** basic.return with 312 NO_ROUTE: the publisher's own properties and body back, before any confirm of it. */
  private returnMessage(incoming: Incoming, body: Buffer): void {
    const text = shortString(replyText(Reply.noRoute, '').replace(/ - $/, ''));
    writeContent(this.host.transport, this.id, 50, text, 0, false, incoming.exchange, incoming.routingKey, Reply.noRoute, incoming.propertiesBytes!, body, this.host.frameMax);
    this.host.noteWrite();
  }

  private settle(confirm: Confirm, state: 'ack' | 'nack'): void {
    confirm.state = state;
    if (this.confirmFlush) return;
    this.confirmFlush = true;
    // every confirm settled in one turn goes out together: one basic.ack with multiple for the run
    queueMicrotask(() => this.flushConfirms());
  }

  /**
   * Confirms go out in publish order: a run of acknowledged publishes as one basic.ack with
   * multiple set, a refused one as its own basic.nack. A publish settled early waits for those
   * before it, so `multiple` never covers one still pending.
   */
  private flushConfirms(): void {
    this.confirmFlush = false;
    if (this.state !== 'open' && !this.closeOwed) return;
    let lastAck = 0;
    let ackedInRun = 0;
    let i = 0;
    for (; i < this.confirms.length; i++) {
      const c = this.confirms[i]!;
      if (c.state === 'pending') break;
      if (c.state === 'ack') {
        lastAck = c.tag;
        ackedInRun++;
        continue;
      }
      if (lastAck !== 0) this.send('basic.ack', { deliveryTag: lastAck, multiple: ackedInRun > 1 });
      lastAck = 0;
      ackedInRun = 0;
      this.send('basic.nack', { deliveryTag: c.tag, multiple: false, requeue: false });
    }
    if (lastAck !== 0) this.send('basic.ack', { deliveryTag: lastAck, multiple: ackedInRun > 1 });
    this.confirms.splice(0, i);
  }

  /**
   * Closes the channel with a channel exception: consumers end, and only close and close-ok are read
   * until the client answers. The close waits for the confirms of the publishes before it that wait
   * on the store: a client drops what is unconfirmed at a channel's close (amqplib rejects it) and a
   * publisher that sends it again would duplicate what the store has taken.
   */
  closeWith(code: number, text: string, classId: number, methodId: number): void {
    if (this.state === 'closing') return;
    this.state = 'closing';
    this.incoming = undefined;
    this.end();
    const close = (): void => {
      if (!this.closeOwed) return;
      this.closeOwed = false;
      this.send('channel.close', { replyCode: code, replyText: replyText(code, text), classId, methodId });
    };
    this.closeOwed = true;
    const settled = this.confirmsSettled;
    if (settled === null) close();
    // after the microtask that writes the confirms `settle` gathered
    else void settled.then(() => queueMicrotask(() => {
      this.flushConfirms();
      close();
    }));
  }

  private closed(byClient: boolean): void {
    // the client closed the channel itself meanwhile: no close is owed
    this.closeOwed = false;
    if (byClient) this.end();
    this.host.channelClosed(this.id);
  }

  /** Releases what the channel holds in core: its consumers (their unacknowledged messages return) and its transaction. */
  end(): void {
    this.closeOwed = false;
    this.consumers.end();
    this.replyTo.close();
    if (this.txId !== undefined && this.host.core?.isClosed === false) {
      try {
        this.core.rollback(this.txId);
      } catch {
        // already ended with the connection
      }
    }
    this.txId = undefined;
    this.txMandatory = [];
    this.txPublished = [];
    this.session?.close();
    this.session = undefined;
  }
}
