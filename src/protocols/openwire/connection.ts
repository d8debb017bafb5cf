import { FerryError, isFerryError, type ErrorCode } from '../../errors.js';
import type { BrokerAccess, CoreConnection, CoreSession, Delivery, Destination, Logger, Message } from '../../core/index.js';
import { ReadHold, confirmSilence, deadlineTimer, timerDelay, type TransportConnection } from '../../transport/index.js';
import { advisoryTopic, destinationInfo, temporaryAdvisoryTopic, type Advisories } from './advisories.js';
import { ConnectionAdvisories, brokerIdOf } from './connection-advisories.js';
import {
  ACK,
  MESSAGE_TYPES,
  NEWEST_VERSION,
  OLDEST_VERSION,
  T,
  type BaseCommand,
  type ConnectionId,
  type ConnectionInfo,
  type ConsumerInfo,
  type DataStructure,
  type DestinationInfo,
  type MessageAck,
  type MessageId,
  type MessagePull,
  type ProducerId,
  type ProducerInfo,
  type RemoveInfo,
  type RemoveSubscriptionInfo,
  type SessionInfo,
  type TransactionInfo,
  type WireFormatInfo,
  type WireMessage,
  type ConsumerControl,
} from './commands.js';
import { OpenWireConsumer, type DispatchTarget } from './consumer.js';
import { CommandSplitter, LooseCodec } from './marshal.js';
import { inflatedContent } from './compression.js';
import { messageIdText, toCoreDestination, toMessageInit, toWireMessage, type TemporaryDestinations } from './mapping.js';
import type { OpenWireOptions } from './options.js';
import type { ProducerAudit } from './producer-audit.js';
import { isFatalCode, refusalThrowable } from './refusals.js';
import { runTransactionCommand, transactionKey, xaThrowable, xidOf } from './transactions.js';
import { negotiate, wireFormatInfo } from './wire-format.js';

/** ActiveMQ's client counts at least this many bytes per message against its producer window. */
const MINIMUM_MESSAGE_SIZE = 1024;

interface ProducerState {
  readonly id: ProducerId;
  readonly sessionKey: string;
  readonly windowSize: number;
  /** The producer as the failover audit knows it, made once rather than per message. */
  readonly auditKey: string;
  /** Bytes of its window taken and not yet given back in a ProducerAck (see `ackProduced`). */
  windowDue: number;
}

function sessionKeyOf(connectionValue: number): string {
  return String(connectionValue);
}

/**
 * One OpenWire connection: negotiates the wire format, then turns the JMS client's commands into
 * calls on core (a JMS session is a core session, a producer is remembered, a consumer is a core
 * consumer with an OpenWireConsumer as its sink) and answers each command that asks for it with a
 * Response or an ExceptionResponse. Bad wire input ends the connection with a ConnectionError;
 * a refused operation answers that command only.
 */
export class OpenWireConnection implements DispatchTarget, TemporaryDestinations {
  private readonly splitter: CommandSplitter;
  private codec = new LooseCodec(NEWEST_VERSION);
  private negotiated = false;
  private core: CoreConnection | undefined;
  private connectionId: ConnectionId | null = null;
  /**
   * Commands that came while the broker decided on the ConnectionInfo, or inflated a large
   * compressed body off the event loop; handled, in order, once it has.
   */
  private held: DataStructure[] | undefined;
  private readonly sessions = new Map<string, CoreSession>();
  private readonly producers = new Map<string, ProducerState>();
  private readonly consumers = new Map<string, OpenWireConsumer>();
  private readonly advisory: ConnectionAdvisories;
  private readonly temporary: Destination[] = [];
  /**
   * Acknowledgements made in each open transaction, applied when it prepares or commits (on whichever
   * connection: an XA transaction may be completed through another). A rollback drops them and the
   * messages stay in flight to their consumer: ActiveMQ's client redelivers them itself, and
   * acknowledges them again in its next transaction. A prepared transaction that rolls back puts
   * them back in flight to that consumer for the same reason (`DeliverySink.reinstated`).
   */
  private readonly transactionAcks = new Map<string, MessageAck[]>();
  private dispatchSequence = 0;
  private nextCommandId = 1;
  private lastRead = Date.now();
  /** An asynchronous send without a producer window that filled a queue with memoryPolicy block stops reading. */
  private readonly readHold: ReadHold;
  private wroteSinceCheck = false;
  private negotiateTimer: NodeJS.Timeout | undefined;
  private writeCheck: NodeJS.Timeout | undefined;
  private readCheck: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closing = false;
  /** Producers whose window is owed bytes this turn: one ProducerAck each at its end. */
  private windowsDue: ProducerState[] = [];

  constructor(
    private readonly transport: TransportConnection,
    private readonly broker: BrokerAccess,
    private readonly options: OpenWireOptions,
    advisories: Advisories,
    private readonly audit: ProducerAudit,
    private readonly logger: Logger,
  ) {
    this.advisory = new ConnectionAdvisories(advisories, broker.name, transport.localAddress, (consumer, message) =>
      this.write({ type: T.MESSAGE_DISPATCH, commandId: 0, responseRequired: false, consumerId: consumer.id, destination: consumer.destination, message, redeliveryCounter: 0 }),
    );
    this.readHold = new ReadHold(transport);
    this.splitter = new CommandSplitter(options.maxFrameSize, (buffer, start, end) => this.onBytes(buffer, start, end));
    // the broker speaks first, as ActiveMQ's does: its WireFormatInfo goes out as the socket opens
    this.write(wireFormatInfo(options));
    this.negotiateTimer = deadlineTimer(transport.openedAt, options.negotiateTimeout, () => {
      this.fail(new FerryError('FERRY_OPENWIRE_INACTIVITY', `no WireFormatInfo within ${options.negotiateTimeout} ms`));
    });
    transport.setHandler({
      data: (chunk) => {
        this.lastRead = Date.now();
        try {
          this.splitter.push(chunk);
        } catch (err) {
          this.fail(err);
        }
      },
      closed: (error) => this.closed(error),
    });
  }

  // TemporaryDestinations: a client names its temporary destinations itself (`ID:<connection>:<n>`)

  resolve(kind: 'queue' | 'topic', name: string): Destination {
    return { kind, name, temporary: true };
  }

  // DispatchTarget

  nextSequence(): number {
    return ++this.dispatchSequence;
  }

  isWritable(): boolean {
    return this.transport.isWritable();
  }

  onWritable(resume: () => void): void {
    this.transport.onWritable(resume);
  }

  transactionOf(ack: MessageAck): string | undefined {
    return ack.transactionId === null ? undefined : transactionKey(ack.transactionId);
  }

  dispatch(consumer: OpenWireConsumer, message: Message | null, delivery: Delivery | undefined, sequence: number, messageId?: MessageId): void {
    let wire: WireMessage | null = null;
    if (message !== null) {
      if (message.replyTo?.temporary === true) this.advisory.tellTemporary(message.replyTo);
      wire = toWireMessage(message, (delivery?.deliveryCount ?? 1) - 1, messageId);
      if (message.groupId !== undefined && consumer.firstOfGroup(message.groupId, message.groupSeq)) wire.jmsxGroupFirstForConsumer = true;
      wire.messageId!.brokerSequenceId = sequence;
    }
    this.write({
      type: T.MESSAGE_DISPATCH,
      commandId: 0,
      responseRequired: false,
      consumerId: consumer.id,
      destination: consumer.destination,
      message: wire,
      redeliveryCounter: wire?.redeliveryCounter ?? 0,
    });
  }

  private onBytes(buffer: Buffer, start: number, end: number): void {
    if (this.closing) return;
    const command = this.codec.decode(buffer, start, end);
    if (command === null) return;
    if (this.held !== undefined) {
      this.held.push(command);
      return;
    }
    this.onCommand(command);
  }

  private onCommand(command: DataStructure): void {
    try {
      if (!this.negotiated) {
        if (command.type !== T.WIREFORMAT_INFO) throw new FerryError('FERRY_OPENWIRE_PROTOCOL', `command type ${command.type} before WireFormatInfo`);
        this.onWireFormat(command as WireFormatInfo);
        return;
      }
      if (this.core === undefined) {
        if (command.type === T.KEEP_ALIVE_INFO) return this.onKeepAlive(command as BaseCommand);
        if (command.type === T.SHUTDOWN_INFO) return this.shutdown();
        // a failover client restoring its state starts with a ConnectionControl
        if (command.type === T.CONNECTION_CONTROL || command.type === T.FLUSH_COMMAND) return this.respond(command as BaseCommand);
        if (command.type !== T.CONNECTION_INFO) throw new FerryError('FERRY_OPENWIRE_PROTOCOL', `command type ${command.type} before ConnectionInfo`);
        this.onConnectionInfo(command as ConnectionInfo);
        return;
      }
      this.handle(command);
    } catch (err) {
      this.refuse(command, err);
    }
  }

  private handle(command: DataStructure): void {
    if (MESSAGE_TYPES.has(command.type)) return this.onMessage(command as WireMessage);
    switch (command.type) {
      case T.MESSAGE_ACK:
        return this.onAck(command as MessageAck);
      case T.SESSION_INFO:
        return this.onSessionInfo(command as SessionInfo);
      case T.PRODUCER_INFO:
        return this.onProducerInfo(command as ProducerInfo);
      case T.CONSUMER_INFO:
        return this.onConsumerInfo(command as ConsumerInfo);
      case T.REMOVE_INFO:
        return this.onRemoveInfo(command as RemoveInfo);
      case T.MESSAGE_PULL: {
        const pull = command as MessagePull;
        this.consumerOf(pull.consumerId)?.pull(pull.timeout, (fire, ms) => this.timer(fire, ms));
        return this.respond(command as BaseCommand);
      }
      case T.TRANSACTION_INFO:
        return this.onTransactionInfo(command as TransactionInfo);
      case T.DESTINATION_INFO:
        return this.onDestinationInfo(command as DestinationInfo);
      case T.REMOVE_SUBSCRIPTION_INFO: {
        const info = command as RemoveSubscriptionInfo;
        if (info.subscriptionName === null) throw new FerryError('FERRY_OPENWIRE_MALFORMED', 'RemoveSubscriptionInfo without a subscription name');
        try {
          // its advisory goes out from core's removal, as for every protocol's (foreign-advisories.ts)
          this.requireCore().deleteDurableSubscription(info.subscriptionName, info.clientId ?? undefined);
        } catch (err) {
          // JMS: unsubscribing a name that no subscription has is an InvalidDestinationException (not
          // the DestinationDoesNotExistException of a missing destination: ActiveMQ's is the plain one)
          if (isFerryError(err, 'FERRY_CONSUMER_NOT_FOUND')) throw new FerryError('FERRY_DESTINATION_INVALID', err.message);
          throw err;
        }
        return this.respondStored(info);
      }
      case T.KEEP_ALIVE_INFO:
        return this.onKeepAlive(command as BaseCommand);
      case T.SHUTDOWN_INFO:
        return this.shutdown();
      case T.CONSUMER_CONTROL: {
        const control = command as ConsumerControl;
        const id = control.consumerId;
        if (id !== null) this.consumers.get(`${id.sessionId}:${id.value}`)?.setPrefetch(control.prefetch);
        return this.respond(control);
      }
      case T.FLUSH_COMMAND:
      case T.CONNECTION_CONTROL:
      case T.CONTROL_COMMAND:
        return this.respond(command as BaseCommand);
      case T.CONNECTION_INFO:
        throw new FerryError('FERRY_OPENWIRE_PROTOCOL', 'a second ConnectionInfo on one connection');
      default:
        throw new FerryError('FERRY_OPENWIRE_PROTOCOL', `a client may not send data structure type ${command.type}`);
    }
  }

  private onWireFormat(info: WireFormatInfo): void {
    clearTimeout(this.negotiateTimer);
    const agreed = negotiate(info, this.options);
    if (agreed.version < OLDEST_VERSION) {
      throw new FerryError('FERRY_OPENWIRE_PROTOCOL', `OpenWire version ${agreed.version} is older than the oldest Ferry speaks (${OLDEST_VERSION})`);
    }
    this.codec = new LooseCodec(agreed.version);
    this.negotiated = true;
    this.startInactivityChecks(agreed.maxInactivityDuration, agreed.initialDelay);
    this.write({
      type: T.BROKER_INFO,
      commandId: 0,
      responseRequired: false,
      brokerId: { type: T.BROKER_ID, value: brokerIdOf(this.broker.name) },
      brokerName: this.broker.name,
      connectionId: 0,
    });
  }

  private onConnectionInfo(info: ConnectionInfo): void {
    this.connectionId = info.connectionId;
    // what the client sends before the answer waits, and so does the socket, until the broker has decided
    this.held = [];
    this.transport.pause();
    this.broker
      .connect({
        protocol: 'openwire',
        transport: { remoteAddress: this.transport.remoteAddress, peerCertificate: this.transport.peerCertificate },
        credentials: { username: info.userName ?? undefined, password: info.password ?? undefined },
        clientId: info.clientId ?? undefined,
        takeOver: info.failoverReconnect === true,
      })
      .then(
        (core) => {
          if (this.closing || this.transport.closed) {
            core.close();
            return;
          }
          this.core = core;
          core.onRevoked = (reason) => this.fail(reason);
          core.onTransactionEnding = (txId, keep) => (keep ? this.applyTransactionAcks(txId) : this.transactionAcks.delete(txId));
          core.onEvicted = () => this.fail(new FerryError('FERRY_CLIENT_ID_IN_USE', `client id "${core.clientId ?? ''}" was taken over by a newer connection`));
          this.respond(info);
          const connectionId = info.connectionId ?? { type: T.CONNECTION_ID, value: core.id };
          // with where the client connects from, as ActiveMQ's transport names it (tcp://, also over TLS)
          this.advisory.announce('ActiveMQ.Advisory.Connection', `${core.id}/connection`, { ...info, password: null, clientIp: `tcp://${this.transport.remoteAddress}` }, this.removeInfo(connectionId));
          this.logger.debug({ event: 'openwire.connected', connection: core.id, version: this.codec.version, remote: this.transport.remoteAddress }, 'OpenWire client connected');
          this.release();
        },
        (err: unknown) => {
          this.held = undefined;
          this.refuse(info, err);
          // a refused connection ends: the client has nothing else to do on it
          this.shutdown();
        },
      );
  }

  /**
   * Finishes `command` with what `work` gives, holding the commands after it meanwhile (and not
   * reading), so that the connection's commands still take effect in the order they were sent.
   */
  private holdUntil<T>(work: Promise<T>, command: BaseCommand, then: (result: T) => void): void {
    this.held = [];
    this.transport.pause();
    work
      .then((result) => {
        if (!this.closing) then(result);
      })
      .catch((err: unknown) => this.refuse(command, err))
      .finally(() => this.release());
  }

  /** Handles the commands held so far, until one of them holds the rest again. */
  private release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (let i = 0; i < held.length; i++) {
      if (this.closing) return;
      this.onCommand(held[i]!);
      // (re-read: the command may have held the connection again)
      const again = this.held as DataStructure[] | undefined;
      if (again !== undefined) {
        // nothing has been read since: the rest go first
        again.push(...held.slice(i + 1));
        return;
      }
    }
    if (!this.readHold.held && !this.transport.closed) this.transport.resume();
  }

  private onSessionInfo(info: SessionInfo): void {
    if (info.sessionId === null) throw new FerryError('FERRY_OPENWIRE_MALFORMED', 'SessionInfo without a session id');
    this.sessionFor(sessionKeyOf(info.sessionId.value));
    this.respond(info);
  }

  private sessionFor(key: string): CoreSession {
    let session = this.sessions.get(key);
    if (session === undefined) {
      session = this.requireCore().createSession();
      this.sessions.set(key, session);
    }
    return session;
  }

  private onProducerInfo(info: ProducerInfo): void {
    const id = info.producerId;
    if (id === null) throw new FerryError('FERRY_OPENWIRE_MALFORMED', 'ProducerInfo without a producer id');
    // a producer for one destination is checked now, as ActiveMQ checks it: refused at createProducer, not at the first send
    const key = `${id.sessionId}:${id.value}`;
    if (info.destination !== null) {
      const destination = toCoreDestination(info.destination, this);
      this.requireCore().checkDestination(destination);
      this.advisory.announce(advisoryTopic('Producer', destination), `${this.requireCore().id}/producer/${key}`, info, this.removeInfo(id));
    }
    this.producers.set(key, { id, sessionKey: sessionKeyOf(id.sessionId), windowSize: info.windowSize, auditKey: `${id.connectionId}:${id.sessionId}:${id.value}`, windowDue: 0 });
    this.respond(info);
  }

  private onMessage(wire: WireMessage, inflated?: Buffer): void {
    if (wire.compressed && inflated === undefined && (wire.content?.length ?? 0) > 0) {
      const content = inflatedContent(wire, this.options.maxFrameSize);
      if (content instanceof Promise) return this.holdUntil(content, wire, (body) => this.onMessage(wire, body));
      inflated = content;
    }
    const destination = toCoreDestination(wire.destination, this);
    const producerKey = wire.producerId === null ? undefined : `${wire.producerId.sessionId}:${wire.producerId.value}`;
    const producer = producerKey === undefined ? undefined : this.producers.get(producerKey);
    const session = this.sessionFor(producer?.sessionKey ?? sessionKeyOf(wire.producerId?.sessionId ?? -1));
    const txId = wire.transactionId === null ? undefined : transactionKey(wire.transactionId);
    // a transaction's sends are not audited: a failover replays an uncommitted transaction, which the old connection's end rolled back
    const id = wire.messageId;
    const auditKey = producer?.auditKey ?? (id?.producerId == null ? undefined : `${id.producerId.connectionId}:${id.producerId.sessionId}:${id.producerId.value}`);
    const audited = txId === undefined && id !== null && auditKey !== undefined;
    const fresh = !audited || this.audit.isNew(auditKey, id.producerSequenceId);
    if (!fresh) this.logger.debug({ event: 'openwire.duplicate', messageId: messageIdText(id!), remote: this.transport.remoteAddress }, 'a resent message dropped as a duplicate');
    const durable = fresh ? session.send(toMessageInit(wire, destination, this, this.requireCore().principal.username, inflated), txId) : null;
    // only once the message's own records are appended: a kept mark must never cover a message the store lost
    if (fresh && audited) this.audit.taken(auditKey, id.producerSequenceId, durable !== null);
    // memoryPolicy block: a synchronous send waits for its Response and a windowed one for its
    // ProducerAck, that producer alone; an asynchronous one without a window, only by no longer being read
    const room = fresh ? session.roomAfterSend : undefined;
    const windowed = !wire.responseRequired && producer !== undefined && producer.windowSize > 0;
    if (!wire.responseRequired && !windowed) {
      this.readHold.until(room);
      durable?.catch((err: unknown) => this.fail(err));
      return;
    }
    const answer = (): void => {
      if (wire.responseRequired) this.respond(wire);
      else this.ackProduced(producer!, MINIMUM_MESSAGE_SIZE + (wire.content?.length ?? 0) + (wire.marshalledProperties?.length ?? 0));
    };
    const done = room === undefined ? answer : (): void => void room.then(() => !this.closing && answer());
    if (durable === null) done();
    else durable.then(done, (err: unknown) => this.refuse(wire, err));
  }

  /**
   * Gives `size` bytes back to a windowed producer's window. The client only subtracts each
   * ProducerAck's size from what its window holds, so the sends of one turn (about 50 per socket
   * read of an asynchronous producer) are given back in one ProducerAck, not one each as ActiveMQ
   * sends them: the client is the one that decodes them, on the cores it shares with the broker.
   */
  private ackProduced(producer: ProducerState, size: number): void {
    if (producer.windowDue === 0) {
      if (this.windowsDue.length === 0) process.nextTick(this.giveWindowsBack);
      this.windowsDue.push(producer);
    }
    producer.windowDue += size;
  }

  private readonly giveWindowsBack = (): void => {
    const due = this.windowsDue;
    this.windowsDue = [];
    for (const producer of due) {
      const size = producer.windowDue;
      producer.windowDue = 0;
      if (!this.closing) this.write({ type: T.PRODUCER_ACK, commandId: 0, responseRequired: false, producerId: producer.id, size });
    }
  };

  private onConsumerInfo(info: ConsumerInfo): void {
    const id = info.consumerId;
    if (id === null || info.destination === null) throw new FerryError('FERRY_OPENWIRE_MALFORMED', 'ConsumerInfo without a consumer id or a destination');
    const key = `${id.sessionId}:${id.value}`;
    if (this.consumers.has(key) || this.advisory.has(key)) throw new FerryError('FERRY_CONSUMER_EXISTS', `consumer ${key} is already open on this connection`);
    const sessionKey = sessionKeyOf(id.sessionId);
    const consumer = new OpenWireConsumer(id, key, info.destination, sessionKey, Math.max(0, info.prefetchSize), info.browser, this);
    if (ConnectionAdvisories.isAdvisory(info.destination)) {
      // ActiveMQ's advisory topics: the adapter answers them itself
      this.respond(info);
      this.advisory.open(key, consumer);
      return;
    }
    const destination = toCoreDestination(info.destination, this);
    const session = this.sessionFor(sessionKey);
    const durableName = info.subscriptionName ?? undefined;
    consumer.options = {
      destination,
      sink: consumer.sink(),
      // the sink's credit is the prefetch (ActiveMQ's rules, extended by delivered acknowledgements): core's stays out of the way
      prefetch: Number.MAX_SAFE_INTEGER,
      ackMode: 'individual',
      exclusive: info.exclusive,
      priority: info.priority,
      noLocal: info.noLocal,
      selector: info.selector ?? undefined,
      durable: durableName === undefined || destination.kind !== 'topic' ? undefined : { name: durableName },
      browse: info.browser,
      // the client's RedeliveryPolicy decides when a message is poison, and says so with a poison ack
      exemptFromMaxRedeliveries: true,
    };
    consumer.handle = session.subscribe(consumer.options);
    this.consumers.set(key, consumer);
    this.advisory.announce(advisoryTopic('Consumer', destination), `${this.requireCore().id}/consumer/${key}`, info, this.removeInfo(id));
    if (durableName === undefined) this.respond(info);
    else this.respondStored(info);
  }

  /**
   * An operator deleted the consumer's queue. JMS has nothing a listener would hear of it (a
   * ConsumerControl close stops one silently), and ActiveMQ keeps such a consumer subscribed to the
   * name, so it is subscribed again once the deletion is done: the queue is made anew, empty, and
   * what is sent to it afterwards reaches the consumer. Where it cannot be (destinations are not
   * made on first use, or the consumer may no longer read it), the client's consumer is closed.
   */
  queueDeleted(consumer: OpenWireConsumer): void {
    queueMicrotask(() => {
      if (this.consumers.get(consumer.key) !== consumer || this.closing || consumer.options === undefined) return;
      try {
        consumer.handle = this.sessionFor(consumer.sessionKey).subscribe(consumer.options);
        return;
      } catch (err) {
        if (!isFerryError(err)) throw err;
        this.logger.debug({ event: 'openwire.consumer-closed', code: err.code, message: err.message, consumer: consumer.key }, 'consumer of a deleted queue closed');
      }
      this.consumers.delete(consumer.key);
      this.advisory.withdraw(`${this.core?.id ?? ''}/consumer/${consumer.key}`);
      this.write({ type: T.CONSUMER_CONTROL, commandId: 0, responseRequired: false, destination: consumer.destination, close: true, consumerId: consumer.id, prefetch: 0, flush: false, start: false, stop: false });
    });
  }

  private removeInfo(objectId: DataStructure): DataStructure {
    return { type: T.REMOVE_INFO, commandId: 0, responseRequired: false, objectId, lastDeliveredSequenceId: 0 };
  }

  private onAck(ack: MessageAck): void {
    const consumer = this.consumerOf(ack.consumerId);
    const txId = this.transactionOf(ack);
    if (consumer !== undefined && txId !== undefined && ack.ackType !== ACK.DELIVERED && ack.ackType !== ACK.REDELIVERED) {
      this.requireCore().assertTransaction(txId);
      let acks = this.transactionAcks.get(txId);
      if (acks === undefined) this.transactionAcks.set(txId, (acks = []));
      acks.push(ack);
    } else if (consumer !== undefined) {
      consumer.acknowledge(ack);
      // a client that waits for its acknowledgement's answer (jms.sendAcksAsync=false) is told it is done once it is on disk
      return this.respondStored(ack);
    }
    this.respond(ack);
  }

  private consumerOf(id: { sessionId: number; value: number } | null): OpenWireConsumer | undefined {
    if (id === null) return undefined;
    const key = `${id.sessionId}:${id.value}`;
    if (this.advisory.has(key)) return undefined;
    const consumer = this.consumers.get(key);
    if (consumer === undefined) throw new FerryError('FERRY_CONSUMER_NOT_FOUND', `no consumer ${key} on this connection`);
    return consumer;
  }

  private onRemoveInfo(info: RemoveInfo): void {
    const object = info.objectId;
    if (object === null) throw new FerryError('FERRY_OPENWIRE_MALFORMED', 'RemoveInfo without an object id');
    const last = info.lastDeliveredSequenceId;
    switch (object.type) {
      case T.CONSUMER_ID: {
        const key = `${object['sessionId'] as number}:${object['value'] as number}`;
        this.removeConsumer(key, last);
        break;
      }
      case T.PRODUCER_ID:
        this.removeProducer(`${object['sessionId'] as number}:${object['value'] as number}`);
        break;
      case T.SESSION_ID: {
        const sessionKey = sessionKeyOf(object['value'] as number);
        for (const [key, consumer] of [...this.consumers]) if (consumer.sessionKey === sessionKey) this.removeConsumer(key, last);
        for (const [key, producer] of [...this.producers]) if (producer.sessionKey === sessionKey) this.removeProducer(key);
        this.sessions.get(sessionKey)?.close();
        this.sessions.delete(sessionKey);
        break;
      }
      case T.CONNECTION_ID:
        this.respond(info);
        this.releaseCore(last);
        return;
      default:
        throw new FerryError('FERRY_OPENWIRE_PROTOCOL', `RemoveInfo for data structure type ${object.type}`);
    }
    this.respond(info);
  }

  /** A producer closed by its client: it resends nothing after a failover, so the audit lets it go. */
  private removeProducer(key: string): void {
    const producer = this.producers.get(key);
    if (producer === undefined) return;
    this.producers.delete(key);
    this.audit.forget(producer.auditKey);
    this.advisory.withdraw(`${this.core?.id ?? ''}/producer/${key}`);
  }

  private removeConsumer(key: string, lastDeliveredSequence: number): void {
    if (this.advisory.close(key)) return;
    const consumer = this.consumers.get(key);
    if (consumer === undefined) return;
    this.consumers.delete(key);
    this.advisory.withdraw(`${this.core?.id ?? ''}/consumer/${key}`);
    consumer.close(lastDeliveredSequence);
  }

  /** Applies the acknowledgements the client made in the transaction, in core's transaction, just before it commits or prepares. */
  private applyTransactionAcks(txId: string): void {
    const acks = this.transactionAcks.get(txId) ?? [];
    this.transactionAcks.delete(txId);
    // a consumer closed since is done with: what it held went back to its queue when it closed
    for (const ack of acks) this.consumers.get(`${ack.consumerId!.sessionId}:${ack.consumerId!.value}`)?.acknowledge(ack);
  }

  private onTransactionInfo(info: TransactionInfo): void {
    runTransactionCommand(this.requireCore(), info, {
      respond: () => this.respond(info),
      refuse: (err) => this.refuse(info, err),
      write: (structure) => this.write(structure),
    });
  }

  private onDestinationInfo(info: DestinationInfo): void {
    const wire = info.destination;
    if (wire === null) throw new FerryError('FERRY_OPENWIRE_MALFORMED', 'DestinationInfo without a destination');
    const destination = toCoreDestination(wire, this);
    const core = this.requireCore();
    const adding = info.operationType === 0;
    if (destination.temporary === true) {
      if (adding) {
        core.createTemporaryDestination(destination.kind, destination.name);
        this.temporary.push(destination);
        this.advisory.announce(temporaryAdvisoryTopic(destination), `temporary/${destination.kind}/${destination.name}`, destinationInfo(destination, this.connectionId, true), destinationInfo(destination, this.connectionId, false));
      } else {
        core.deleteTemporaryDestination(destination);
        this.forgetTemporary(destination);
      }
    } else if (adding) {
      core.checkDestination(destination);
    } else if (destination.kind === 'queue') {
      // ActiveMQConnection.destroyDestination: as ActiveMQ, a queue with consumers stays (and the admin right is needed)
      core.deleteQueue(destination.name, { ifUnused: true, ifEmpty: false });
    } else {
      core.deleteTopic(destination.name);
    }
    this.respond(info);
  }

  private forgetTemporary(destination: Destination): void {
    const index = this.temporary.findIndex((d) => d.kind === destination.kind && d.name === destination.name);
    if (index >= 0) this.temporary.splice(index, 1);
    this.advisory.withdraw(`temporary/${destination.kind}/${destination.name}`);
  }

  private onKeepAlive(command: BaseCommand): void {
    if (command.responseRequired) this.write({ type: T.KEEP_ALIVE_INFO, commandId: 0, responseRequired: false });
  }

  /**
   * ActiveMQ's inactivity monitor, from the broker's side: something goes out at least every third
   * of the agreed duration (a KeepAliveInfo when nothing else did), and a client silent for the
   * whole duration is gone. A duration is a long: the timers run at most MAX_TIMER_DELAY apart,
   * and the checks compare elapsed time, so a longer one still means what it says.
   */
  private startInactivityChecks(duration: number, initialDelay: number): void {
    if (duration <= 0) return;
    this.timer(() => {
      this.writeCheck = setInterval(() => {
        if (!this.wroteSinceCheck) this.write({ type: T.KEEP_ALIVE_INFO, commandId: 0, responseRequired: false });
        this.wroteSinceCheck = false;
      }, timerDelay(Math.max(1, Math.floor(duration / 3))));
      // a held producer's commands wait unread: its silence is ours
      const silent = (): boolean => !this.readHold.held && Date.now() - Math.max(this.lastRead, this.readHold.endedAt) > duration;
      this.readCheck = setInterval(() => {
        if (silent()) confirmSilence(silent, () => this.fail(new FerryError('FERRY_OPENWIRE_INACTIVITY', `nothing received for more than ${duration} ms (MaxInactivityDuration)`)));
      }, timerDelay(duration));
    }, timerDelay(Math.max(0, initialDelay)));
  }

  private timer(fire: () => void, ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fire();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private respond(command: BaseCommand): void {
    if (!command.responseRequired) return;
    this.write({ type: T.RESPONSE, commandId: 0, responseRequired: false, correlationId: command.commandId });
  }

  /** Answers once everything written to the store so far is on disk: a kill -9 after the answer keeps what the command changed. */
  private respondStored(command: BaseCommand): void {
    if (!command.responseRequired) return;
    this.requireCore()
      .synced()
      .then(
        () => {
          if (!this.closing) this.respond(command);
        },
        (err: unknown) => this.refuse(command, err),
      );
  }

  /**
   * Answers a refused command: with an ExceptionResponse when the client waits for an answer, a
   * ConnectionError when it does not; a failure of the wire itself also closes the connection.
   */
  private refuse(command: DataStructure, err: unknown): void {
    const fatal = !isFerryError(err) || isFatalCode(err.code);
    const base = command as BaseCommand;
    if (fatal || !base.responseRequired) {
      this.fail(err, fatal);
      return;
    }
    const { code, message } = err;
    this.logger.debug({ event: 'openwire.refused', code, message, remote: this.transport.remoteAddress }, 'OpenWire command refused');
    const exception = xaThrowable(command, code, message) ?? refusalThrowable(code, message);
    this.write({ type: T.EXCEPTION_RESPONSE, commandId: 0, responseRequired: false, correlationId: base.commandId, exception });
  }

  /** Tells the client with a ConnectionError; closes the connection when `fatal`. */
  private fail(err: unknown, fatal = true): void {
    if (this.transport.closed) return;
    let code: ErrorCode;
    let message: string;
    if (isFerryError(err)) {
      ({ code, message } = err);
      this.logger.warn({ event: 'openwire.error', code, message, remote: this.transport.remoteAddress }, fatal ? 'closing an OpenWire connection' : 'OpenWire command refused');
    } else {
      code = 'FERRY_INTERNAL';
      message = `internal error: ${err instanceof Error ? err.message : String(err)}`;
      this.logger.error({ event: 'openwire.internal-error', code, err, remote: this.transport.remoteAddress }, 'unexpected error in an OpenWire connection');
    }
    if (this.negotiated) {
      this.write({ type: T.CONNECTION_ERROR, commandId: 0, responseRequired: false, exception: refusalThrowable(code, message), connectionId: this.connectionId });
    }
    if (fatal) this.shutdown();
  }

  private write(structure: DataStructure): void {
    if (this.transport.closed) return;
    if (structure.type !== T.WIREFORMAT_INFO) structure['commandId'] = this.nextCommandId++;
    this.wroteSinceCheck = true;
    const size = this.codec.size(structure);
    const room = this.transport.reserve?.(size);
    if (room === undefined) {
      this.transport.write(this.codec.encode(structure, size));
      return;
    }
    try {
      this.codec.encodeInto(structure, room);
    } catch (err) {
      // room half written cannot be taken back: what follows it would be misread, so none of it is sent
      this.transport.destroy();
      throw err;
    }
    this.transport.sendReserved?.();
  }

  private shutdown(): void {
    this.closing = true;
    this.stopTimers();
    this.transport.end();
    this.releaseCore(undefined);
  }

  private closed(error: Error | undefined): void {
    this.stopTimers();
    if (error !== undefined) {
      this.logger.debug({ event: 'openwire.socket-error', code: (error as NodeJS.ErrnoException).code, message: error.message, remote: this.transport.remoteAddress }, 'OpenWire socket closed with an error');
    }
    this.releaseCore(undefined);
  }

  private releaseCore(lastDeliveredSequence: number | undefined): void {
    this.advisory.closeAll();
    // an XA transaction this connection joined goes on without it, with what it consumed in it; core
    // rolls back, with them, those it began
    if (this.core?.isClosed === false) for (const txId of [...this.transactionAcks.keys()]) if (xidOf(txId) !== undefined) this.applyTransactionAcks(txId);
    for (const consumer of this.consumers.values()) consumer.close(lastDeliveredSequence);
    this.consumers.clear();
    this.producers.clear();
    this.sessions.clear();
    this.temporary.length = 0;
    const core = this.core;
    this.core = undefined;
    core?.close();
  }

  private stopTimers(): void {
    clearTimeout(this.negotiateTimer);
    clearInterval(this.writeCheck);
    clearInterval(this.readCheck);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private requireCore(): CoreConnection {
    if (this.core === undefined) throw new FerryError('FERRY_CONNECTION_CLOSED', 'the connection is closed');
    return this.core;
  }
}

