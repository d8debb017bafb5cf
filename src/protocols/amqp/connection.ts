import { FerryError, isFerryError } from '../../errors.js';
import type { BrokerAccess, CoreConnection, CoreSession, Destination, Logger } from '../../core/index.js';
import type { TransportConnection } from '../../transport/index.js';
import { capabilityOf, dynamicKind, formatAddress, parseAddress } from './address.js';
import { CoordinatorLink } from './coordinator.js';
import {
  AmqpConditionError,
  Descriptor,
  acceptConnection,
  amqpLayerReady,
  coordinatorTarget,
  descriptorOf,
  rawTransferState,
  saslUser,
  transactionOf,
  type EventContext,
  type Frame,
  type RheaConnection,
  type RheaError,
  type RheaLink,
  type RheaSession,
  type Terminus,
  type TerminusFields,
  type Typed,
} from './engine.js';
import { FrameGuard } from './frame-guard.js';
import { acceptTransfer, readTransferFrame, type TransferFrame } from './transfers.js';
import { ProducerLink } from './incoming.js';
import { amqpError, type LinkHandler, type LinkOwner } from './link.js';
import type { AmqpOptions } from './options.js';
import { ConsumerLink } from './outgoing.js';

const PRODUCT = 'Ferry';
const VERSION = '0.1.0';
/** A JMS client that sets a client id asks for this: its container id is then unique on the broker. */
const SOLE_CONNECTION = 'sole-connection-for-container';
const SELECTOR_FILTER = 'apache.org:selector-filter:string';
const SELECTOR_FILTER_CODE = 0x0000468c00000004;
const NO_LOCAL_FILTER = 'apache.org:no-local-filter:list';
const NO_LOCAL_FILTER_CODE = 0x0000468c00000003;
/** Marks a transfer whose payload rhea must hand over undecoded (Ferry decodes it itself). */
const RAW_FORMAT = 0xfe11;

function list(value: string | readonly string[] | null | undefined): readonly string[] {
  if (value === null || value === undefined) return [];
  return typeof value === 'string' ? [value] : value;
}

interface SessionState {
  readonly rhea: RheaSession;
  readonly core: CoreSession;
  closeCore(): void;
  readonly links: Set<LinkHandler>;
  /** Set while rhea handles an attach whose target is a transaction coordinator. */
  coordinatorAttach: boolean;
}

type IncomingHandler = ProducerLink | CoordinatorLink;

/**
 * One AMQP 1.0 connection: rhea runs the protocol, this turns its events into core calls. Holds
 * only what the wire needs: sessions and links and the txn-ids it gave out. Durable subscriptions
 * are owned by the client's container id.
 */
export class AmqpConnection implements LinkOwner {
  private readonly guard: FrameGuard;
  private readonly rhea: RheaConnection;
  private readonly feed: (chunk: Buffer) => void;
  private readonly rheaClosed: () => void;
  private core: CoreConnection | undefined;
  /**
   * Events that came after the open while the broker was still deciding on the connection: rhea
   * has read them, Ferry acts on them once the core connection exists.
   */
  private held: (() => void)[] | undefined;
  private containerId = '';
  private readonly sessions = new Map<RheaSession, SessionState>();
  private linkCount = 0;
  private nextTxn = 1;
  private readonly openTimer: NodeJS.Timeout;
  private failed = false;

  constructor(
    readonly transport: TransportConnection,
    private readonly broker: BrokerAccess,
    readonly options: AmqpOptions,
    readonly logger: Logger,
  ) {
    this.guard = new FrameGuard(options.maxFrameSize);
    const server = acceptConnection(transport, {
      id: `amqp-${transport.id}`,
      containerId: broker.name,
      maxFrameSize: options.maxFrameSize,
      channelMax: options.maxSessions - 1,
      idleTimeout: options.idleTimeout,
      sessionWindow: options.sessionWindow,
      properties: { product: PRODUCT, version: VERSION },
      offeredCapabilities: ['ANONYMOUS-RELAY'],
    });
    this.rhea = server.connection;
    this.feed = server.feed;
    this.rheaClosed = server.closed;
    this.listen(this.rhea);
    this.openTimer = setTimeout(() => {
      this.fail(new FerryError('FERRY_AMQP_OPEN_TIMEOUT', `no open within ${options.openTimeout} ms`), 'amqp:resource-limit-exceeded');
    }, options.openTimeout);
    transport.setHandler({
      data: (chunk) => this.data(chunk),
      closed: (error) => this.closed(error),
    });
  }

  private listen(c: RheaConnection): void {
    const on = (event: string, handler: (context: EventContext) => void): void => {
      c.on(event, (context) => {
        const run = (): void => {
          try {
            handler(context);
          } catch (err) {
            this.unexpected(err);
          }
        };
        // a session's hooks must be in place before rhea reads its attaches, so its open is not held
        if (this.held !== undefined && event !== 'connection_close' && event !== 'session_open') this.held.push(run);
        else run();
      });
    };
    on('connection_open', () => this.opened());
    on('connection_close', () => this.releaseCore());
    on('session_open', (ctx) => this.sessionOpened(ctx.session!));
    on('session_close', (ctx) => this.sessionClosed(ctx.session!));
    on('sender_open', (ctx) => this.senderOpened(ctx.sender!));
    on('receiver_open', (ctx) => this.receiverOpened(ctx.receiver!));
    on('sender_close', (ctx) => this.linkDetached(ctx.sender!));
    on('receiver_close', (ctx) => this.linkDetached(ctx.receiver!));
    on('message', (ctx) => (ctx.receiver!.ferry as IncomingHandler | undefined)?.message(ctx.delivery!, ctx.message!));
    on('sendable', (ctx) => (ctx.sender!.ferry as ConsumerLink | undefined)?.sendable());
    on('sender_draining', (ctx) => (ctx.sender!.ferry as ConsumerLink | undefined)?.drainIfAsked());
    // errors of the peer's own endpoints arrive with their close events, handled above
    for (const ignored of ['connection_error', 'session_error', 'sender_error', 'receiver_error', 'settled', 'disconnected', 'receiver_flow', 'sender_flow']) {
      c.on(ignored, () => {});
    }
    // exceptions from rhea's input handling (and from Ferry's hooks inside it): rhea ends the socket after these
    c.on('protocol_error', (err) => this.inputFailed(err));
    c.on('error', (err) => this.inputFailed(err));
  }

  // bytes

  private data(chunk: Buffer): void {
    if (this.failed) return;
    // bytes up to `passFrom` have gone to rhea or been taken as transfers; the rest go to rhea in order
    let passFrom = 0;
    const failure = this.guard.push(chunk, (start, end) => {
      if (this.failed) return;
      try {
        const frame = readTransferFrame(chunk, start, end);
        if (frame === undefined || frame.unusual) return;
        // rhea reads what comes before first: it may attach the very link this transfer is on
        if (passFrom < start) this.feed(chunk.subarray(passFrom, start));
        passFrom = start;
        if (!this.failed && this.receiveTransfer(frame)) passFrom = end;
      } catch (err) {
        passFrom = chunk.length;
        this.inputFailed(err);
      }
    });
    if (this.failed) return;
    if (failure !== undefined) {
      if (failure.kind === 'header') {
        // [AMQP 2.2] a header the broker does not speak is answered with one it does, then the socket closes
        this.failed = true;
        this.logger.debug({ event: 'amqp.bad-header', remote: this.transport.remoteAddress, message: failure.message }, 'closing an AMQP connection');
        this.transport.write(failure.reply);
        this.transport.end();
        this.releaseCore();
        return;
      }
      this.fail(new FerryError('FERRY_AMQP_FRAMING', failure.message), 'amqp:connection:framing-error');
      return;
    }
    try {
      // rhea also hears of input that was all transfers, which keeps its idle time-out right
      this.feed(passFrom === 0 ? chunk : chunk.subarray(passFrom));
    } catch (err) {
      this.unexpected(err);
    }
  }

  /**
   * A whole transfer frame, read by the broker itself (transfers.ts); false leaves it to rhea, which
   * handles the unusual cases and reports the erroneous ones.
   */
  private receiveTransfer(frame: TransferFrame): boolean {
    const session = this.rhea.remote_channel_map[frame.channel];
    if (session === undefined || !this.sessions.has(session)) return false;
    const link = session.remote.handles[frame.handle];
    const handler = link?.ferry as IncomingHandler | undefined;
    if (link === undefined || link.is_sender() || handler === undefined) return false;
    // [AMQP 2.6.7] a transfer needs link credit
    if (link.credit <= 0) throw new AmqpConditionError('amqp:link:transfer-limit-exceeded', `transfer on link "${link.name}" without link credit`);
    const delivery = acceptTransfer(session, link, frame);
    if (delivery === undefined) return false;
    if (handler instanceof ProducerLink) {
      handler.beginTransfer(frame.format, frame.txnId);
      handler.countBytes(frame.payload.length);
    }
    handler.message(delivery, frame.payload);
    return true;
  }

  private closed(error: Error | undefined): void {
    clearTimeout(this.openTimer);
    if (error !== undefined) this.logger.debug({ event: 'amqp.socket-error', err: error }, 'AMQP socket closed with an error');
    this.rheaClosed();
    this.releaseCore();
  }

  /** An exception inside rhea's handling of input: a frame that does not decode or breaks the protocol. */
  private inputFailed(err: unknown): void {
    if (err instanceof AmqpConditionError) {
      this.fail(new FerryError('FERRY_AMQP_PROTOCOL', err.message), err.condition);
      return;
    }
    if (isFerryError(err)) {
      this.fail(err, amqpError(err).condition);
      return;
    }
    const name = err instanceof Error ? err.name : '';
    const message = err instanceof Error ? err.message : String(err);
    // rhea's decoding errors, and Buffer reads past a frame's end; the rest are frames in a state that forbids them
    const decoding = name === 'ProtocolError' || name === 'TypeError' || name === 'RangeError';
    this.fail(new FerryError(decoding ? 'FERRY_AMQP_DECODE' : 'FERRY_AMQP_PROTOCOL', message), decoding ? 'amqp:decode-error' : 'amqp:illegal-state');
  }

  private unexpected(err: unknown): void {
    if (isFerryError(err)) {
      this.fail(err, amqpError(err).condition);
      return;
    }
    this.logger.error({ event: 'amqp.internal-error', err }, 'unexpected error in an AMQP connection');
    this.fail(err, 'amqp:internal-error');
  }

  /**
   * Closes the connection with an error condition; nothing else is affected. Once SASL is over the
   * close frame goes out (after the broker's open, which the specification asks for even when the
   * client's open never came); during SASL or before a header the socket just ends.
   */
  private fail(err: unknown, condition: string, info: Record<string, string> = {}): void {
    if (this.failed || this.transport.closed) return;
    this.failed = true;
    clearTimeout(this.openTimer);
    const description = err instanceof Error ? err.message : String(err);
    this.logger.debug({ event: 'amqp.error', condition, code: isFerryError(err) ? err.code : undefined, message: description, remote: this.transport.remoteAddress }, 'closing an AMQP connection');
    const c = this.rhea;
    if (amqpLayerReady(c)) {
      try {
        const error: RheaError & { info?: Record<string, string> } = { condition, description: description.length > 500 ? `${description.slice(0, 500)}...` : description };
        error.info = isFerryError(err) ? { code: err.code, ...info } : info;
        c.open();
        c.close(error);
        // written now, not on rhea's next tick: the socket ends right after this
        c._process();
      } catch (writeErr) {
        this.logger.debug({ event: 'amqp.close-failed', err: writeErr }, 'could not write the close frame');
      }
    }
    this.transport.end();
    this.releaseCore();
  }

  // connection

  private opened(): void {
    clearTimeout(this.openTimer);
    const c = this.rhea;
    this.containerId = c.container_id ?? '';
    const sole = list(c.remote.open?.desired_capabilities).includes(SOLE_CONNECTION);
    this.held = [];
    this.broker
      .connect({
        protocol: 'amqp',
        transport: { remoteAddress: this.transport.remoteAddress, peerCertificate: this.transport.peerCertificate },
        credentials: { username: saslUser(c) },
        clientId: sole && this.containerId !== '' ? this.containerId : undefined,
      })
      .then(
        (core) => {
          const held = this.held ?? [];
          this.held = undefined;
          if (this.failed || this.transport.closed) {
            core.close();
            return;
          }
          this.core = core;
          this.logger.debug({ event: 'amqp.connected', connection: core.id, container: this.containerId, remote: this.transport.remoteAddress }, 'AMQP client connected');
          for (const run of held) run();
        },
        (err: unknown) => {
          this.held = undefined;
          if (!isFerryError(err)) return this.unexpected(err);
          // [AMQP JMS mapping, sole-connection-for-container] the close names the offending field
          this.fail(err, amqpError(err).condition, isFerryError(err, 'FERRY_CLIENT_ID_IN_USE') ? { 'invalid-field': 'container-id' } : {});
        },
      );
  }

  private requireCore(): CoreConnection {
    if (this.core === undefined) throw new FerryError('FERRY_CONNECTION_CLOSED', 'the connection is closed');
    return this.core;
  }

  /** Closes everything the connection owns in core; safe to call more than once. */
  private releaseCore(): void {
    for (const state of this.sessions.values()) this.closeSession(state);
    this.sessions.clear();
    const core = this.core;
    this.core = undefined;
    this.held = undefined;
    core?.close();
  }

  // sessions

  private sessionOpened(session: RheaSession): void {
    if (this.sessions.size >= this.options.maxSessions) {
      session.close({ condition: 'amqp:resource-limit-exceeded', description: `more than ${this.options.maxSessions} sessions (amqp.maxSessions)` });
      return;
    }
    let core: CoreSession | undefined;
    const owner = this;
    const state: SessionState = {
      rhea: session,
      // made on first use: a session may open while the broker is still deciding on the connection
      get core(): CoreSession {
        return (core ??= owner.requireCore().createSession());
      },
      closeCore: () => core?.close(),
      links: new Set(),
      coordinatorAttach: false,
    };
    this.sessions.set(session, state);
    session.ferry = state;
    this.installHooks(state);
  }

  private sessionClosed(session: RheaSession): void {
    const state = this.sessions.get(session);
    if (state === undefined) return;
    this.sessions.delete(session);
    this.closeSession(state);
  }

  private closeSession(state: SessionState): void {
    for (const link of state.links) link.close();
    this.linkCount -= state.links.size;
    state.links.clear();
    state.closeCore();
  }

  /**
   * Ferry's hooks in front of three of rhea's session handlers. They run inside rhea's input
   * handling, so an AmqpConditionError they throw closes the connection with its condition.
   */
  private installHooks(state: SessionState): void {
    const session = state.rhea;
    const onTransfer = session.on_transfer.bind(session);
    const onDisposition = session.on_disposition.bind(session);
    const onAttach = session.on_attach.bind(session);
    session.on_transfer = (frame) => this.transferFrame(session, frame, onTransfer);
    session.on_disposition = (frame) => {
      // role true: the sender of the disposition is the receiver, so it is about the broker's deliveries
      if (frame.performative.role === true) this.consumerDisposition(session, frame);
      else onDisposition(frame);
    };
    session.on_attach = (frame) => {
      const target = frame.performative.target;
      if (frame.performative.role === false && descriptorOf(target) === Descriptor.coordinator) {
        // rhea knows no coordinator target (it would warn and drop it): Ferry takes it from here
        frame.performative.target = null;
        state.coordinatorAttach = true;
      }
      try {
        this.attachByRole(session, frame, onAttach);
      } finally {
        state.coordinatorAttach = false;
      }
    };
  }

  /**
   * A link is named uniquely per direction, so a client may attach a sending and a receiving link of
   * the same name (Qpid Proton's blocking client does, naming links after their address); rhea keeps
   * a session's links by name alone and would take the second attach for a repeat of the first.
   * Links are therefore kept under their name and direction, and shown to rhea by bare name only
   * while it handles an attach.
   */
  private attachByRole(session: RheaSession, frame: Frame, original: (frame: Frame) => void): void {
    const name = frame.performative.name;
    if (name === undefined) {
      original(frame);
      return;
    }
    // role true: the client receives, so the broker's end is a sender
    const key = `${frame.performative.role === true ? 'sender' : 'receiver'}\u0000${name}`;
    const links = session.links;
    const existing = links[key];
    const shadowed = links[name];
    if (existing !== undefined) links[name] = existing;
    else delete links[name];
    try {
      original(frame);
    } finally {
      const link = links[name];
      if (shadowed !== undefined) links[name] = shadowed;
      else delete links[name];
      if (link !== undefined && link !== existing) {
        links[key] = link;
        if (this.sessions.get(session)?.coordinatorAttach === true) link.ferryCoordinator = true;
        const remove = link.remove.bind(link);
        link.remove = () => {
          remove();
          if (links[key] === link) delete links[key];
        };
      }
    }
  }

  private transferFrame(session: RheaSession, frame: Frame, original: (frame: Frame) => void): void {
    const performative = frame.performative;
    const link = performative.handle === undefined ? undefined : session.remote.handles[performative.handle];
    if (link === undefined || link.is_sender()) {
      original(frame);
      return;
    }
    const handler = link.ferry as IncomingHandler | undefined;
    if (performative.aborted === true) {
      this.abortTransfer(session, link, performative.delivery_id);
      if (handler instanceof ProducerLink) handler.aborted();
      return;
    }
    const producer = handler instanceof ProducerLink ? handler : undefined;
    if (link._incomplete === undefined) {
      // [AMQP 2.6.7] a transfer needs link credit (a refused link never had any)
      if (link.credit <= 0) throw new AmqpConditionError('amqp:link:transfer-limit-exceeded', `transfer on link "${link.name}" without link credit`);
      producer?.beginTransfer(performative.message_format ?? 0, transactionOf(rawTransferState(frame)));
      // rhea decodes format 0 into its own message object; any other format it hands over as bytes
      performative.message_format = RAW_FORMAT;
    } else producer?.transferState(transactionOf(rawTransferState(frame)));
    producer?.countBytes(frame.payload?.length ?? 0);
    original(frame);
  }

  /** [AMQP 2.6.14] an aborted delivery is dropped and counts as settled. */
  private abortTransfer(session: RheaSession, link: RheaLink, deliveryId: number | null | undefined): void {
    const incoming = session.incoming;
    incoming.next_transfer_id++;
    const incomplete = link._incomplete;
    if (incomplete !== undefined) {
      incomplete.settled = true;
      incomplete.remote_settled = true;
      link._incomplete = undefined;
    } else if (deliveryId !== null && deliveryId !== undefined) {
      incoming.next_delivery_id = deliveryId + 1;
    }
    link.connection._register();
  }

  /** Outcomes for the broker's deliveries, handled here rather than by rhea, which knows no transactional state. */
  private consumerDisposition(session: RheaSession, frame: Frame): void {
    const performative = frame.performative;
    const deliveries = session.outgoing.deliveries;
    const head = deliveries.get_head();
    const tail = deliveries.get_tail();
    if (head === undefined || tail === undefined || performative.first === undefined) return;
    const settled = performative.settled === true;
    const state = performative.state;
    const first = Math.max(performative.first, head.id);
    const last = Math.min(performative.last ?? performative.first, tail.id);
    for (let id = first; id <= last; id++) {
      const delivery = deliveries.by_id(id);
      if (delivery === undefined || delivery.remote_settled) continue;
      const handler = delivery.link.ferry as ConsumerLink | undefined;
      handler?.disposition(delivery, state, settled);
      if (settled) {
        delivery.remote_settled = true;
        delivery.settled = true;
      } else if (state !== null && state !== undefined && descriptorOf(state) !== Descriptor.received) {
        // the client settles second (rcv-settle-mode second): the broker settles now
        delivery.update(true);
      }
    }
    session.connection._register();
  }

  // links

  private admitLink(link: RheaLink): boolean {
    if (this.linkCount >= this.options.maxLinks) {
      link.close({ condition: 'amqp:resource-limit-exceeded', description: `more than ${this.options.maxLinks} links (amqp.maxLinks)` });
      return false;
    }
    return true;
  }

  /** Keeps a link the broker has accepted; counted against amqp.maxLinks until it goes. */
  private keep(state: SessionState, link: RheaLink, handler: LinkHandler): void {
    state.links.add(handler);
    link.ferry = handler;
    this.linkCount++;
  }

  private refuse(link: RheaLink, err: unknown): void {
    if (!isFerryError(err)) throw err;
    this.logger.debug({ event: 'amqp.link-refused', link: link.name, code: err.code, message: err.message }, 'AMQP link refused');
    link.close(amqpError(err));
  }

  /** The client attached a receiving link: a consumer on the link's source. */
  private senderOpened(link: RheaLink): void {
    if (!this.admitLink(link)) return;
    const state = this.sessions.get(link.session);
    try {
      if (state === undefined) throw new FerryError('FERRY_CONNECTION_CLOSED', 'the session is closed');
      this.keep(state, link, this.openConsumer(link, state));
    } catch (err) {
      this.refuse(link, err);
    }
    // rhea writes a session's transfers before its attaches: without this, a client that sends its
    // flow with its attach (Qpid Proton does) could get a delivery before the attach that names its handle
    this.rhea._process();
  }

  private openConsumer(link: RheaLink, state: SessionState): ConsumerLink {
    const attach = link.remote.attach;
    const source: Terminus | null | undefined = attach?.source;
    if (source === null || source === undefined) throw new FerryError('FERRY_DESTINATION_INVALID', 'a receiving link needs a source');
    const capabilities = list(source.capabilities);
    let destination: Destination;
    if (source.dynamic === true) destination = this.requireCore().createTemporaryDestination(dynamicKind(capabilities));
    else {
      if (source.address === null || source.address === undefined) throw new FerryError('FERRY_DESTINATION_INVALID', 'the source has no address');
      destination = parseAddress(source.address, capabilities);
    }
    if (source.distribution_mode === 'copy') throw new FerryError('FERRY_AMQP_PROTOCOL', 'browsing (distribution-mode copy) is not supported');

    // filters: a JMS selector and no-local; others are not applied and not echoed, so the client can tell
    let selector: string | undefined;
    let noLocal = false;
    const applied: Record<string, Typed> = {};
    for (const [key, filter] of Object.entries(source.filter ?? {})) {
      const descriptor = filter.descriptor?.value;
      if (descriptor === SELECTOR_FILTER || descriptor === SELECTOR_FILTER_CODE) {
        if (typeof filter.value !== 'string') throw new FerryError('FERRY_SELECTOR_INVALID', 'a selector filter must hold a string');
        selector = filter.value;
        applied[key] = filter;
      } else if (descriptor === NO_LOCAL_FILTER || descriptor === NO_LOCAL_FILTER_CODE) {
        noLocal = true;
        applied[key] = filter;
      }
    }

    const durable = destination.kind === 'topic' && destination.temporary !== true && (source.durable ?? 0) > 0 && source.expiry_policy === 'never';
    const presettled = attach?.snd_settle_mode === 1;
    if (durable && this.containerId === '') throw new FerryError('FERRY_DESTINATION_INVALID', 'a durable subscription needs a container-id in the open');
    const handler = new ConsumerLink(link, this, presettled, durable ? { connection: this.requireCore(), owner: this.containerId, name: link.name } : undefined);
    handler.consumer = state.core.subscribe({
      destination,
      sink: handler,
      // link credit limits what is in flight; this only bounds it by the session's window
      prefetch: this.options.sessionWindow,
      ackMode: presettled ? 'auto' : 'individual',
      noLocal,
      selector,
      // AMQP properties are typed: a string is compared as a string (strict JMS), and that is stored with the subscription
      selectorConvertsStrings: false,
      durable: durable ? { name: link.name, owner: this.containerId } : undefined,
    });
    const local = link.local.attach;
    // settled if asked; unsettled for unsettled and for mixed
    local.snd_settle_mode = presettled ? 1 : 0;
    local.rcv_settle_mode = attach?.rcv_settle_mode === 1 ? 1 : 0;
    const echo: TerminusFields = {
      address: source.dynamic === true ? formatAddress(destination) : source.address ?? undefined,
      durable: durable ? (source.durable ?? 0) : 0,
      expiry_policy: durable ? 'never' : 'link-detach',
      capabilities: [capabilityOf(destination)],
    };
    if (source.dynamic === true) echo.dynamic = true;
    if (Object.keys(applied).length > 0) echo.filter = applied;
    link.set_source(echo);
    return handler;
  }

  /** The client attached a sending link: a producer to the link's target, or a transaction coordinator. */
  private receiverOpened(link: RheaLink): void {
    if (!this.admitLink(link)) return;
    const state = this.sessions.get(link.session);
    try {
      if (state === undefined) throw new FerryError('FERRY_CONNECTION_CLOSED', 'the session is closed');
      const attach = link.remote.attach;
      link.local.attach.rcv_settle_mode = attach?.rcv_settle_mode === 1 ? 1 : 0;
      link.local.attach.max_message_size = this.options.maxMessageSize;
      if (state.coordinatorAttach || link.ferryCoordinator === true) {
        const coordinator = new CoordinatorLink(link, this);
        link.local.attach.target = coordinatorTarget();
        this.keep(state, link, coordinator);
        coordinator.start();
        return;
      }
      const target = attach?.target;
      let destination: Destination | undefined;
      if (target?.dynamic === true) destination = this.requireCore().createTemporaryDestination(dynamicKind(list(target.capabilities)));
      else if (target?.address !== null && target?.address !== undefined) {
        destination = parseAddress(target.address, list(target.capabilities));
        this.requireCore().checkDestination(destination);
      }
      const handler = new ProducerLink(link, state.core, this, destination);
      this.keep(state, link, handler);
      const echo: TerminusFields = {};
      if (destination !== undefined) {
        echo.address = target?.dynamic === true ? formatAddress(destination) : target?.address ?? undefined;
        echo.capabilities = [capabilityOf(destination)];
        if (target?.dynamic === true) echo.dynamic = true;
      }
      link.set_target(echo);
      handler.start();
    } catch (err) {
      this.refuse(link, err);
    }
  }

  private linkDetached(link: RheaLink): void {
    const handler = link.ferry as LinkHandler | undefined;
    if (handler === undefined) return;
    link.ferry = undefined;
    if (this.sessions.get(link.session)?.links.delete(handler) === true) this.linkCount--;
    handler.detached(link.remote.detach?.closed === true);
  }

  // transactions (LinkOwner)

  private txName(txnId: Buffer): string {
    return `amqp:${txnId.toString('hex')}`;
  }

  transactionName(txnId: Buffer): string {
    const name = this.txName(txnId);
    this.requireCore().assertTransaction(name);
    return name;
  }

  declareTransaction(): Buffer {
    const id = Buffer.allocUnsafe(4);
    id.writeUInt32BE(this.nextTxn++ >>> 0);
    this.requireCore().begin(this.txName(id));
    return id;
  }

  dischargeTransaction(txnId: Buffer, fail: boolean): Promise<void> | null {
    const core = this.requireCore();
    if (fail) {
      core.rollback(this.txName(txnId));
      return null;
    }
    return core.commit(this.txName(txnId));
  }
}
