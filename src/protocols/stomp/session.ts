import { FerryError, isFerryError, isStoreRefusal, type ErrorCode } from '../../errors.js';
import type { AckMode, BrokerAccess, ConsumerHandle, CoreConnection, CoreSession, Delivery, DeliverySink, Destination, Logger, Message } from '../../core/index.js';
import { ReadHold, confirmSilence, deadlineTimer, timerDelay, type TransportConnection } from '../../transport/index.js';
import { StompParser, encodeFrame, escapeHeader, trimmedHeaders, type StompFrame, type StompVersion } from './codec.js';
import { messageHead, parseDestination, sendToMessage, type TemporaryNames } from './mapping.js';
import { LINK_FORM, linkMessageHead } from './link-form.js';
import { serverCommands, type DuplexEnd, type DuplexLinks } from './duplex.js';
import type { StompOptions } from './options.js';

const SERVER = 'Ferry/0.1.0';
const supportedVersions: readonly StompVersion[] = ['1.2', '1.1', '1.0'];
const ackModes: Readonly<Record<string, AckMode>> = { auto: 'auto', client: 'client', 'client-individual': 'individual' };
const NUL = Buffer.from([0]);

interface Subscription {
  readonly id: string;
  readonly consumer: ConsumerHandle;
  readonly durableName: string | undefined;
  /** A `browser:true` subscription: it consumes nothing, so an ACK or NACK of what it delivered changes nothing. */
  readonly browser?: true;
}

function header(frame: StompFrame, name: string): string {
  const value = frame.headers.get(name);
  if (value === undefined) throw new FerryError('FERRY_STOMP_PROTOCOL', `${frame.command} frame needs a "${name}" header`);
  return value;
}

function negotiateVersion(acceptVersion: string | undefined): StompVersion | undefined {
  if (acceptVersion === undefined) return '1.0';
  const offered = new Set(acceptVersion.split(',').map((v) => v.trim()));
  return supportedVersions.find((v) => offered.has(v));
}

/** A body view that pins a much larger socket chunk is copied, so a queued 1 KiB message does not hold 64 KiB. */
function ownBody(body: Buffer): Buffer {
  return body.length * 2 < body.buffer.byteLength ? Buffer.from(body) : body;
}

/** A MESSAGE frame's command and headers, and their length in UTF-8. */
interface MessageHead {
  readonly text: string;
  readonly bytes: number;
}

function headOf(text: string): MessageHead {
  return { text, bytes: Buffer.byteLength(text, 'utf8') };
}

/**
 * One STOMP connection: translates frames into calls on a core session and deliveries into MESSAGE
 * frames. Holds only what the wire needs: subscription ids, the negotiated version, the client's
 * names for its temporary destinations, heart-beat timers.
 */
export class StompSession implements TemporaryNames {
  private readonly parser: StompParser;
  private version: StompVersion = '1.0';
  private core: CoreConnection | undefined;
  private session: CoreSession | undefined;
  /** Frames that came after CONNECT while the broker was still deciding on it; handled once it has. */
  private held: StompFrame[] | undefined;
  /** What the parser could not read behind the frames held while the broker decides on CONNECT: it fails the connection after them. */
  private heldFailure: unknown;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly byConsumer = new Map<number, Subscription>();
  /**
   * The consumers and subscription ids this connection unsubscribed, the latest first to go: an ACK
   * or NACK that names one comes after its message went back to the queue, and is let go, as
   * ActiveMQ lets it go, rather than taken for a protocol error.
   */
  private readonly unsubscribed = { consumers: new Set<number>(), ids: new Set<string>() };
  /**
   * A browser with an ack mode delivered here. A 1.0 ACK names its message by id alone, and a
   * browser keeps no record of what it delivered: on such a connection an ACK that names no
   * message awaiting one is taken for one of those, and let go.
   */
  private browsedWithAcks = false;
  private readonly temporaryByLocal = new Map<string, Destination>();
  private readonly localByTemporary = new Map<string, string>();
  /** The latest store sync a receipt must wait for; syncs complete in order, so the latest covers the earlier ones. */
  private durable: Promise<void> | null = null;
  /** The last promise `receipt` was given, whose chain `durable` is. */
  private lastDurable: Promise<void> | null = null;
  private connectTimer: NodeJS.Timeout | undefined;
  private sendBeat: NodeJS.Timeout | undefined;
  private receiveCheck: NodeJS.Timeout | undefined;
  private lastReceived = Date.now();
  /** A SEND that filled a queue with memoryPolicy block stops reading until it has room. */
  private readonly readHold: ReadHold;
  private wroteSinceBeat = false;
  private closing = false;
  /** An ERROR is on its way (`fail`): the first failure is the one the client is told. */
  private failing = false;
  /** Where a message's head for this connection is kept among its encodings: each form has its own. */
  private headKey = 'stomp';
  /** A network link asked for the link form of MESSAGE frames (link-form.ts). */
  private linkForm = false;
  /** A duplex network link: the CONNECT that asked for it, then the end of the link that runs back. */
  private duplexAsked: ReadonlyMap<string, string> | undefined;
  private duplex: DuplexEnd | undefined;

  constructor(
    private readonly transport: TransportConnection,
    private readonly broker: BrokerAccess,
    private readonly options: StompOptions,
    private readonly logger: Logger,
    private readonly duplexLinks?: DuplexLinks,
  ) {
    this.parser = new StompParser(
      { maxFrameSize: options.maxFrameSize, maxHeaderSize: options.maxHeaderSize, maxHeaders: options.maxHeaders },
      (frame) => this.onFrame(frame),
      (err) => this.unreadable(err),
    );
    this.readHold = new ReadHold(transport);
    this.connectTimer = deadlineTimer(transport.openedAt, options.connectTimeout, () => {
      this.fail(new FerryError('FERRY_STOMP_CONNECT_TIMEOUT', `no CONNECT frame within ${options.connectTimeout} ms`), undefined);
    });
    transport.setHandler({
      data: (chunk) => {
        this.lastReceived = Date.now();
        this.parser.push(chunk);
      },
      closed: (error) => this.closed(error),
    });
  }

  // TemporaryNames: the client's names for its own temporary destinations

  resolve(kind: 'queue' | 'topic', localName: string): Destination {
    const key = `${kind}:${localName}`;
    let destination = this.temporaryByLocal.get(key);
    if (destination === undefined) {
      destination = this.requireCore().createTemporaryDestination(kind);
      this.temporaryByLocal.set(key, destination);
      this.localByTemporary.set(`${kind}:${destination.name}`, localName);
    }
    return destination;
  }

  localName(destination: Destination): string | undefined {
    return this.localByTemporary.get(`${destination.kind}:${destination.name}`);
  }

  private onFrame(frame: StompFrame): void {
    if (this.closing) return;
    if (this.held !== undefined) {
      this.held.push(frame);
      return;
    }
    try {
      if (this.core === undefined) {
        if (frame.command !== 'CONNECT' && frame.command !== 'STOMP') {
          throw new FerryError('FERRY_STOMP_NOT_CONNECTED', `${frame.command} frame before CONNECT; the first frame must be CONNECT or STOMP`);
        }
        this.connect(frame);
        return;
      }
      if (this.duplex !== undefined && serverCommands.has(frame.command)) return this.duplex.frame(frame);
      switch (frame.command) {
        case 'SEND':
          return this.onSend(frame);
        case 'SUBSCRIBE':
          return this.onSubscribe(frame);
        case 'UNSUBSCRIBE':
          return this.onUnsubscribe(frame);
        case 'ACK':
        case 'NACK':
          return this.onAck(frame);
        case 'BEGIN':
          this.requireCore().begin(header(frame, 'transaction'));
          return this.receipt(frame, null);
        case 'COMMIT': {
          const core = this.requireCore();
          const durable = core.commit(header(frame, 'transaction'));
          this.readHold.until(core.roomAfterCommit);
          return this.receipt(frame, durable);
        }
        case 'ABORT':
          this.requireCore().rollback(header(frame, 'transaction'));
          return this.receipt(frame, null);
        case 'DISCONNECT':
          return this.onDisconnect(frame);
        case 'CONNECT':
        case 'STOMP':
          throw new FerryError('FERRY_STOMP_PROTOCOL', 'already connected');
        default:
          throw new FerryError('FERRY_STOMP_PROTOCOL', `${frame.command} is a server frame; a client may not send it`);
      }
    } catch (err) {
      this.fail(err, frame);
    }
  }

  private connect(frame: StompFrame): void {
    clearTimeout(this.connectTimer);
    const version = negotiateVersion(frame.headers.get('accept-version'));
    if (version === undefined) {
      this.writeFrame('ERROR', [['version', supportedVersions.slice().reverse().join(',')], ['content-type', 'text/plain'], ['message', 'Supported protocol versions are 1.0, 1.1 and 1.2'], ['code', 'FERRY_STOMP_PROTOCOL']], undefined);
      this.shutdown();
      return;
    }
    this.version = version;
    this.parser.version = version;
    // the parser trims the frames of a 1.0 connection; its CONNECT was read before the version was known
    if (version === '1.0') frame.headers = trimmedHeaders(frame.headers);
    // Ferry's own: a neighbour's network connector asks this broker to pull from it over this connection
    if (frame.headers.get('ferry.duplex') === 'true') this.duplexAsked = frame.headers;
    // Ferry's own: a neighbour's network link reads messages whole; the form writes no header a producer names
    if (version === '1.2' && frame.headers.get('ferry.link-form') === LINK_FORM) {
      this.linkForm = true;
      this.headKey = 'stomp-link';
    }
    const [sendBeat, receiveBeat] = this.negotiateHeartbeat(frame.headers.get('heart-beat'));
    // what the client sends before CONNECTED waits, and so does the socket, until the broker has decided
    this.held = [];
    this.transport.pause();
    this.broker
      .connect({
        protocol: 'stomp',
        transport: { remoteAddress: this.transport.remoteAddress, peerCertificate: this.transport.peerCertificate },
        credentials: { username: frame.headers.get('login'), password: frame.headers.get('passcode') },
        clientId: frame.headers.get('client-id'),
        // Ferry's own: a network connector's new link replaces its old one, which the neighbour
        // may not have seen die (a cut link), instead of being refused until it does
        takeOver: frame.headers.get('ferry.take-over') === 'true',
      })
      .then(
        (core) => this.connected(core, sendBeat, receiveBeat),
        (err: unknown) => {
          this.held = undefined;
          this.heldFailure = undefined;
          this.fail(err, frame);
        },
      );
  }

  private connected(core: CoreConnection, sendBeat: number, receiveBeat: number): void {
    if (this.closing || this.transport.closed) {
      core.close();
      return;
    }
    this.core = core;
    // the broker closes the connection itself (its user was removed): an ERROR says why
    core.onRevoked = (reason) => this.fail(reason, undefined);
    core.onEvicted = () => this.fail(new FerryError('FERRY_CLIENT_ID_IN_USE', `client id "${core.clientId ?? ''}" was taken over by a newer connection`), undefined);
    this.session = core.createSession();
    const headers: [string, string][] = [
      ['version', this.version],
      ['session', core.id],
      ['server', SERVER],
      // a neighbour's network connector puts this name on the path of what it forwards (docs/network.md)
      ['ferry-broker', this.broker.name],
    ];
    if (this.linkForm) headers.push(['ferry-link-form', LINK_FORM]);
    if (this.version !== '1.0') headers.push(['heart-beat', `${sendBeat},${receiveBeat}`]);
    this.writeFrame('CONNECTED', headers, undefined);
    this.startHeartbeats(sendBeat, receiveBeat);
    this.logger.debug({ event: 'stomp.connected', connection: core.id, version: this.version, remote: this.transport.remoteAddress }, 'STOMP client connected');
    const asked = this.duplexAsked;
    const acceptor = this.duplexLinks?.acceptor;
    if (asked !== undefined && acceptor !== undefined) {
      this.duplex = acceptor.accept({
        connect: asked,
        remoteAddress: this.transport.remoteAddress,
        connection: core,
        write: (command, headers) => this.writeFrame(command, headers, undefined),
        close: () => this.shutdown(),
      });
    }
    const held = this.held ?? [];
    this.held = undefined;
    for (const frame of held) this.onFrame(frame);
    const failure = this.heldFailure;
    this.heldFailure = undefined;
    if (failure !== undefined) {
      if (!this.closing) this.fail(failure, undefined);
      return;
    }
    this.transport.resume();
  }

  /**
   * Bytes the parser could not read. Behind a CONNECT the broker is still deciding on, the failure
   * waits its turn: CONNECTED and the frames before it first, as the client sent them.
   */
  private unreadable(err: unknown): void {
    if (this.held !== undefined) this.heldFailure = err;
    else this.fail(err, undefined);
  }

  /** STOMP 1.1 heart-beating: each side sends at the larger of what one can do and the other wants; 0 on either side means never. */
  private negotiateHeartbeat(value: string | undefined): [number, number] {
    if (value === undefined || this.version === '1.0') return [0, 0];
    const parts = value.split(',');
    const cx = Number(parts[0]);
    const cy = Number(parts[1]);
    if (parts.length !== 2 || !Number.isInteger(cx) || !Number.isInteger(cy) || cx < 0 || cy < 0) {
      throw new FerryError('FERRY_STOMP_PROTOCOL', `heart-beat header must be two non-negative integers, got "${value}"`);
    }
    const send = cy === 0 || this.options.heartbeatSend === 0 ? 0 : Math.max(cy, this.options.heartbeatSend);
    const receive = cx === 0 || this.options.heartbeatReceive === 0 ? 0 : Math.max(cx, this.options.heartbeatReceive);
    return [send, receive];
  }

  /**
   * The negotiated intervals have no upper bound (a client may ask for "practically never"): the
   * timers run at most MAX_TIMER_DELAY apart, so past about 49.7 days a beat goes out more often
   * than promised, which the other side allows, and the receive check still measures the real limit.
   */
  private startHeartbeats(send: number, receive: number): void {
    if (send > 0) {
      // checked twice per interval: a beat goes out after half an interval of silence, so the
      // client never waits longer than the negotiated interval, whenever the last frame left
      this.sendBeat = setInterval(() => {
        if (!this.wroteSinceBeat) this.transport.write('\n');
        this.wroteSinceBeat = false;
      }, timerDelay(Math.max(1, Math.floor(send / 2))));
    }
    if (receive > 0) {
      const limit = receive * this.options.heartbeatGrace;
      // a held producer's frames wait unread: its silence is ours
      const silent = (): boolean => !this.readHold.held && Date.now() - Math.max(this.lastReceived, this.readHold.endedAt) > limit;
      this.receiveCheck = setInterval(() => {
        if (!silent()) return;
        confirmSilence(silent, () => this.fail(new FerryError('FERRY_STOMP_HEARTBEAT_TIMEOUT', `nothing received for more than ${Math.round(limit)} ms (heart-beat ${receive} ms)`), undefined));
      }, timerDelay(Math.max(10, Math.floor(receive / 2))));
    }
  }

  private onSend(frame: StompFrame): void {
    const destination = parseDestination(header(frame, 'destination'), this);
    const init = sendToMessage(frame.headers, ownBody(frame.body), destination, this);
    const tx = frame.headers.get('transaction');
    const session = this.requireSession();
    const durable = session.send(init, tx);
    this.readHold.until(session.roomAfterSend);
    this.receipt(frame, durable);
  }

  private onSubscribe(frame: StompFrame): void {
    const destinationHeader = header(frame, 'destination');
    const id = frame.headers.get('id') ?? (this.version === '1.0' ? destinationHeader : header(frame, 'id'));
    if (this.subscriptions.has(id)) throw new FerryError('FERRY_CONSUMER_EXISTS', `subscription id "${id}" is already in use on this connection`);
    if (this.subscriptions.size >= this.options.maxSubscriptions) {
      throw new FerryError('FERRY_STOMP_PROTOCOL', `more than ${this.options.maxSubscriptions} subscriptions on one connection (stomp.maxSubscriptions)`);
    }
    const ackHeader = frame.headers.get('ack') ?? 'auto';
    const ackMode = ackModes[ackHeader];
    if (ackMode === undefined) throw new FerryError('FERRY_STOMP_PROTOCOL', `ack must be auto, client or client-individual, got "${ackHeader}"`);
    const destination = parseDestination(destinationHeader, this);
    const selector = frame.headers.get('selector');
    if (frame.headers.get('browser') === 'true') {
      this.browse(frame, id, destination, destinationHeader, selector, ackMode);
      return;
    }
    const prefetchHeader = frame.headers.get('activemq.prefetchSize');
    const prefetch = prefetchHeader === undefined ? this.options.defaultPrefetch : Number(prefetchHeader);
    if (!Number.isInteger(prefetch) || prefetch < 1) {
      throw new FerryError('FERRY_STOMP_PROTOCOL', `activemq.prefetchSize must be a positive integer, got "${prefetchHeader ?? ''}"`);
    }
    const priorityHeader = frame.headers.get('activemq.priority');
    const priority = priorityHeader === undefined ? undefined : Number(priorityHeader);
    if (priority !== undefined && (priorityHeader!.trim() === '' || !Number.isInteger(priority))) {
      throw new FerryError('FERRY_STOMP_PROTOCOL', `activemq.priority must be an integer, got "${priorityHeader}"`);
    }
    const durableName = frame.headers.get('activemq.subscriptionName') ?? frame.headers.get('durable-subscription-name');
    const ackTimeout = millisecondsHeader(frame, 'ferry.ack-timeout');
    let subscription: Subscription | undefined;
    const consumer = this.requireSession().subscribe({
      destination,
      sink: this.sinkFor(() => subscription!, ackMode),
      prefetch,
      ackMode,
      exclusive: frame.headers.get('activemq.exclusive') === 'true',
      priority,
      noLocal: frame.headers.get('activemq.noLocal') === 'true',
      selector,
      // STOMP headers are all strings: compare them with numbers as numbers, as ActiveMQ does
      selectorConvertsStrings: true,
      durable: durableName === undefined ? undefined : { name: durableName },
      label: id,
      ackTimeout,
      // Ferry's own: a neighbour's network link asks for the topic's retained messages, for its subscribers
      retainedMessages: frame.headers.get('ferry.retained') === 'all' ? 'all' : undefined,
    });
    subscription = { id, consumer, durableName };
    this.subscriptions.set(id, subscription);
    this.byConsumer.set(consumer.id, subscription);
    this.receipt(frame, durableName === undefined ? null : this.storedForReceipt(frame));
  }

  /**
   * What a receipt for a change to a durable subscription waits for: the store's sync, so that a
   * kill -9 after the receipt keeps the change; null without a receipt, when nobody is told.
   */
  private storedForReceipt(frame: StompFrame): Promise<void> | null {
    return frame.headers.has('receipt') ? this.requireCore().synced() : null;
  }

  /**
   * ActiveMQ's queue browsing: a `browser:true` subscription gets every waiting message (none is
   * consumed), then an empty MESSAGE with `browser:end`, and is over. As with ActiveMQ, a client
   * may ACK or NACK what it browsed (code shared with its consumers does): it gets its receipt, and
   * the message stays. With an ack mode, a 1.2 delivery carries an `ack` header to name it by.
   */
  private browse(frame: StompFrame, id: string, destination: Destination, destinationHeader: string, selector: string | undefined, ackMode: AckMode): void {
    let subscription: Subscription | undefined;
    const sink = this.sinkFor(() => subscription!, ackMode);
    sink.browseEnd = () => {
      this.writeFrame('MESSAGE', [['subscription', id], ['destination', destinationHeader], ['message-id', '0'], ['browser', 'end']], undefined);
      if (this.subscriptions.get(id) === subscription) this.subscriptions.delete(id);
      this.byConsumer.delete(consumer.id);
      // the ACKs of what it delivered may come after its end
      remember(this.unsubscribed.consumers, consumer.id);
      remember(this.unsubscribed.ids, id);
      consumer.close();
    };
    const consumer = this.requireSession().subscribe({ destination, sink, browse: true, selector, selectorConvertsStrings: true });
    subscription = { id, consumer, durableName: undefined, browser: true };
    this.subscriptions.set(id, subscription);
    this.byConsumer.set(consumer.id, subscription);
    if (ackMode !== 'auto') this.browsedWithAcks = true;
    this.receipt(frame, null);
  }

  private onUnsubscribe(frame: StompFrame): void {
    const id = frame.headers.get('id') ?? (this.version === '1.0' ? header(frame, 'destination') : header(frame, 'id'));
    const subscription = this.subscriptions.get(id);
    const durableName = frame.headers.get('activemq.subscriptionName') ?? frame.headers.get('durable-subscription-name');
    if (subscription === undefined && durableName === undefined) {
      throw new FerryError('FERRY_CONSUMER_NOT_FOUND', `no subscription with id "${id}"`);
    }
    if (subscription !== undefined) {
      this.subscriptions.delete(id);
      this.byConsumer.delete(subscription.consumer.id);
      subscription.consumer.close();
      remember(this.unsubscribed.consumers, subscription.consumer.id);
      remember(this.unsubscribed.ids, id);
    }
    // ActiveMQ: an UNSUBSCRIBE that names the durable subscription removes it, not just its subscriber
    if (durableName !== undefined) this.requireCore().deleteDurableSubscription(durableName);
    this.receipt(frame, durableName === undefined ? null : this.storedForReceipt(frame));
  }

  private onAck(frame: StompFrame): void {
    if (frame.command === 'NACK' && this.version === '1.0') throw new FerryError('FERRY_STOMP_PROTOCOL', 'NACK is not part of STOMP 1.0');
    const found = this.findDelivery(frame);
    if (found === undefined) {
      this.receipt(frame, null);
      return;
    }
    const { subscription, tag } = found;
    const txId = frame.headers.get('transaction');
    const consumer = subscription.consumer;
    if (frame.command === 'ACK' && frame.headers.has('ferry.extend')) {
      // not an acknowledgement: more time on the delivery's lease (docs/delivery-lease.md); the
      // receipt says whether there was a lease to extend
      const extended = consumer.extend(tag, millisecondsHeader(frame, 'ferry.extend'));
      this.receipt(frame, null, [['ferry.extended', String(extended)]]);
      return;
    }
    if (frame.command === 'ACK') consumer.acknowledgeOnly(tag, txId);
    else consumer.rejectOnly(tag, txId);
    // the receipt says the ACK or NACK is done, so it goes before the messages the freed slot lets
    // through, as ActiveMQ orders them: a client that waits for it, then for the next message, gets both
    const written = txId === undefined && frame.headers.has('receipt') ? consumer.written() : null;
    if (written === null) {
      this.receipt(frame, null);
      consumer.wake();
      return;
    }
    // done means on disk: a receipt sent before the delete is written would let a crash bring back
    // a message its consumer was told is gone
    this.receipt(frame, written);
    written.then(() => consumer.wake(), () => {});
  }

  /** The delivery an ACK or NACK names; undefined when it names one of a subscription this connection ended, or of a browser. */
  private findDelivery(frame: StompFrame): { subscription: Subscription; tag: number } | undefined {
    if (this.version === '1.2') {
      const ackId = header(frame, 'id');
      const dash = ackId.indexOf('-');
      const consumerId = Number(ackId.slice(0, dash));
      const subscription = dash > 0 ? this.byConsumer.get(consumerId) : undefined;
      const tag = Number(ackId.slice(dash + 1));
      if (subscription === undefined && Number.isInteger(tag) && this.unsubscribed.consumers.has(consumerId)) return undefined;
      if (subscription === undefined || !Number.isInteger(tag)) {
        throw new FerryError('FERRY_DELIVERY_NOT_FOUND', `ack id "${ackId}" does not name a message delivered on this connection`);
      }
      return subscription.browser === true ? undefined : { subscription: this.checkAckable(subscription), tag };
    }
    const messageId = header(frame, 'message-id');
    const subscriptionId = frame.headers.get('subscription');
    const candidates = subscriptionId !== undefined ? [this.subscriptions.get(subscriptionId)] : [...this.subscriptions.values()];
    if (this.version === '1.1' && subscriptionId === undefined) header(frame, 'subscription');
    if (subscriptionId !== undefined && !this.subscriptions.has(subscriptionId) && this.unsubscribed.ids.has(subscriptionId)) return undefined;
    if (subscriptionId !== undefined && this.subscriptions.get(subscriptionId)?.browser === true) return undefined;
    for (const subscription of candidates) {
      if (subscription === undefined) continue;
      // ack:client acknowledges every message up to the one named: of several with one id, the newest
      const tag = subscription.consumer.tagOf(messageId, subscription.consumer.ackMode === 'client');
      if (tag !== undefined) return { subscription: this.checkAckable(subscription), tag };
    }
    if (subscriptionId === undefined && this.browsedWithAcks) return undefined;
    throw new FerryError('FERRY_DELIVERY_NOT_FOUND', `message "${messageId}" is not awaiting acknowledgement${subscriptionId === undefined ? '' : ` on subscription "${subscriptionId}"`}`);
  }

  private checkAckable(subscription: Subscription): Subscription {
    if (subscription.consumer.ackMode === 'auto') {
      throw new FerryError('FERRY_STOMP_PROTOCOL', `subscription "${subscription.id}" uses ack:auto; its messages need no ACK`);
    }
    return subscription;
  }

  private onDisconnect(frame: StompFrame): void {
    const receiptId = frame.headers.get('receipt');
    const finish = (): void => {
      if (receiptId !== undefined) this.writeFrame('RECEIPT', [['receipt-id', receiptId]], undefined);
      this.shutdown();
    };
    this.closing = true;
    if (this.durable === null) finish();
    else this.durable.then(finish, (err: unknown) => this.fail(err, frame));
  }

  /**
   * Sends the RECEIPT a frame asked for once `durable` and everything earlier frames wait for is on
   * disk, so receipts go out in the order of their frames: what a frame waits for may settle before
   * what an earlier one does (a COMMIT's sync before a SEND's), and a receipt must not overtake, nor
   * a DISCONNECT's shutdown drop, an earlier frame's.
   */
  private receipt(frame: StompFrame, durable: Promise<void> | null, extra: readonly [string, string][] = []): void {
    // sends of one turn share one sync (group commit): only a new promise joins the chain
    if (durable !== null && durable !== this.lastDurable) {
      this.lastDurable = durable;
      const before = this.durable;
      const chain = before === null ? durable : Promise.all([before, durable]).then(() => undefined);
      this.durable = chain;
      chain.then(
        () => {
          if (this.durable === chain) this.durable = null;
        },
        (err: unknown) => this.fail(err, frame),
      );
    }
    const receiptId = frame.headers.get('receipt');
    if (receiptId === undefined) return;
    const wait = this.durable;
    const headers: [string, string][] = [['receipt-id', receiptId], ...extra];
    if (wait === null) this.writeFrame('RECEIPT', headers, undefined);
    else wait.then(() => this.writeFrame('RECEIPT', headers, undefined), () => {});
  }

  private sinkFor(subscription: () => Subscription, ackMode: AckMode): DeliverySink & { browseEnd?: () => void } {
    let subscriptionLine: Buffer | undefined;
    return {
      deliver: (delivery) => {
        const sub = subscription();
        subscriptionLine ??= Buffer.from(`subscription:${escapeHeader(sub.id, this.version)}\n`, 'utf8');
        const ackId = ackMode !== 'auto' && this.version === '1.2' ? `${sub.consumer.id}-${delivery.tag}` : undefined;
        this.deliver(delivery, subscriptionLine, ackId);
      },
      isWritable: () => this.transport.isWritable(),
      onWritable: (resume) => this.transport.onWritable(resume),
      // Its queue was deleted. STOMP has no frame that ends one subscription from the broker's side,
      // and a subscription left open would get nothing again: an ERROR, which closes the connection
      // [STOMP 1.2], tells the client, which may connect and subscribe again. After the deletion is
      // done, so that closing this connection's consumers does not run inside it.
      cancelled: (reason) => {
        const id = subscription().id;
        queueMicrotask(() => this.fail(new FerryError('FERRY_DESTINATION_NOT_FOUND', `subscription "${id}" ended: ${reason}`), undefined));
      },
    };
  }

  private deliver(delivery: Delivery, subscriptionLine: Buffer, ackId: string | undefined): void {
    const message = delivery.message;
    const head = this.headFor(message);
    let extra = '';
    if (ackId !== undefined) extra += `ack:${ackId}\n`;
    if (delivery.redelivered) extra += 'redelivered:true\n';
    if (delivery.retained === true) extra += 'ferry-retained:true\n';
    extra += '\n';
    const body = message.body;
    const size = head.bytes + subscriptionLine.length + extra.length + body.length + 1;
    this.wroteSinceBeat = true;
    if (body.length > 65536) {
      this.transport.write(Buffer.concat([Buffer.from(head.text, 'utf8'), subscriptionLine, Buffer.from(extra, 'latin1')]));
      this.transport.write(body);
      this.transport.write(NUL);
      return;
    }
    // Built in the transport's buffer for this turn where it offers room: a buffer of its own per
    // delivery would be allocated, copied and collected for nothing, which is most of what a burst
    // of deliveries (a backlog, scheduled messages coming due together) costs.
    const room = this.transport.reserve?.(size);
    const frame = room ?? Buffer.allocUnsafe(size);
    let offset = frame.write(head.text, 0, head.bytes, 'utf8');
    offset += subscriptionLine.copy(frame, offset);
    offset += frame.write(extra, offset, 'latin1');
    offset += body.copy(frame, offset);
    frame[offset] = 0;
    if (room === undefined) this.transport.write(frame);
    else this.transport.sendReserved?.();
  }

  /**
   * The message's headers for this STOMP version, kept on the message and shared by every delivery
   * of it. Kept as text, not bytes: a buffer per message would be one more allocation outside V8's
   * heap for every message delivered.
   */
  private headFor(message: Message): MessageHead {
    const temporary = message.destination.temporary === true || message.replyTo?.temporary === true;
    if (temporary) return headOf(this.linkForm ? linkMessageHead(message, this) : messageHead(message, this.version, this));
    const key = this.headKey + this.version;
    let encodings = message.encodings;
    const cached = encodings?.get(key);
    if (cached !== undefined) return cached as MessageHead;
    const head = headOf(this.linkForm ? linkMessageHead(message, undefined) : messageHead(message, this.version, undefined));
    if (encodings === undefined) message.encodings = encodings = new Map();
    encodings.set(key, head);
    return head;
  }

  private writeFrame(command: string, headers: Iterable<readonly [string, string]>, body: Buffer | undefined): void {
    this.wroteSinceBeat = true;
    this.transport.write(encodeFrame(command, headers, body, this.version));
  }

  /**
   * Answers a bad frame or a failure with an ERROR frame and closes the connection; nothing else is
   * affected. No frame after the failure is acted on, and the ERROR waits for the receipts of every
   * frame before it that wait on the store: a SEND refused behind persistent SENDs the store has
   * taken must not cut off their receipts, or a client that resends what it got no receipt for
   * (at-least-once) sends them twice. ActiveMQ answers in the same order. A store that fails meanwhile
   * sends no receipt for what it failed, so the ERROR goes out then too; and a refusal by the store
   * itself (full, failing) goes out at once, since those receipts wait behind the same failure.
   */
  private fail(err: unknown, frame: StompFrame | undefined): void {
    if (this.transport.closed || this.failing) return;
    this.failing = true;
    this.closing = true;
    const before = isStoreRefusal(err) ? null : this.durable;
    if (before === null) this.sendError(err, frame);
    else before.then(() => this.sendError(err, frame), () => this.sendError(err, frame));
  }

  private sendError(err: unknown, frame: StompFrame | undefined): void {
    if (this.transport.closed) return;
    let code: ErrorCode;
    let message: string;
    if (isFerryError(err)) {
      ({ code, message } = err);
      // a client's mistake: its code and text say it all, and a stack would only say where Ferry noticed
      this.logger.warn({ event: 'stomp.error', code, message, remote: this.transport.remoteAddress }, 'closing a STOMP connection');
    } else {
      // Ferry's own fault: the stack is what finds it
      code = 'FERRY_INTERNAL';
      message = `internal error: ${err instanceof Error ? err.message : String(err)}`;
      this.logger.error({ event: 'stomp.internal-error', code, err, remote: this.transport.remoteAddress }, 'unexpected error in a STOMP session');
    }
    const headers: [string, string][] = [
      ['message', message.length > 200 ? `${message.slice(0, 200)}...` : message],
      ['content-type', 'text/plain'],
      ['code', code],
    ];
    const receiptId = frame?.headers.get('receipt');
    if (receiptId !== undefined) headers.push(['receipt-id', receiptId]);
    this.writeFrame('ERROR', headers, Buffer.from(`${message}\n`, 'utf8'));
    this.shutdown();
  }

  private shutdown(): void {
    this.closing = true;
    this.stopTimers();
    this.transport.end();
    this.releaseCore();
  }

  private closed(error: Error | undefined): void {
    this.stopTimers();
    // a peer that resets or vanishes is routine: what happened, without a stack
    if (error !== undefined) {
      this.logger.debug({ event: 'stomp.socket-error', code: (error as NodeJS.ErrnoException).code, message: error.message, remote: this.transport.remoteAddress }, 'STOMP socket closed with an error');
    }
    this.releaseCore();
  }

  private releaseCore(): void {
    const duplex = this.duplex;
    this.duplex = undefined;
    duplex?.closed();
    const core = this.core;
    this.core = undefined;
    this.session = undefined;
    this.subscriptions.clear();
    this.byConsumer.clear();
    core?.close();
  }

  private stopTimers(): void {
    clearTimeout(this.connectTimer);
    clearInterval(this.sendBeat);
    clearInterval(this.receiveCheck);
  }

  private requireCore(): CoreConnection {
    if (this.core === undefined) throw new FerryError('FERRY_CONNECTION_CLOSED', 'the connection is closed');
    return this.core;
  }

  private requireSession(): CoreSession {
    if (this.session === undefined) throw new FerryError('FERRY_CONNECTION_CLOSED', 'the connection is closed');
    return this.session;
  }
}

/** A header of milliseconds (a positive integer); undefined when absent or empty (the default then applies). */
function millisecondsHeader(frame: StompFrame, name: string): number | undefined {
  const text = frame.headers.get(name);
  if (text === undefined || text === '') return undefined;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 1) throw new FerryError('FERRY_STOMP_PROTOCOL', `${name} must be a positive number of milliseconds, got "${text}"`);
  return ms;
}

/** How many ended subscriptions a connection remembers, for the ACKs that follow an UNSUBSCRIBE. */
const UNSUBSCRIBED_REMEMBERED = 256;

function remember<T>(set: Set<T>, value: T): void {
  set.delete(value);
  set.add(value);
  if (set.size > UNSUBSCRIBED_REMEMBERED) set.delete(set.values().next().value as T);
}
