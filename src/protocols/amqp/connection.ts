import { FerryError, isFerryError, isStoreRefusal } from '../../errors.js';
import type { BrokerAccess, CoreConnection, Credentials, Logger, TransportFacts } from '../../core/index.js';
import { confirmSilence, deadlineTimer, timerDelay, type TransportConnection } from '../../transport/index.js';
import { openLink, type LinkContext } from './attach.js';
import type { AmqpValue } from './codec.js';
import { FrameGuard, protocolHeader } from './frame-guard.js';
import { EMPTY_FRAME, Performative, amqpFrame, optionalUint, put, readFrame, stringField, symbolsField, type AmqpError } from './frames.js';
import { AmqpConditionError, amqpError, type Link } from './link.js';
import type { AmqpOptions } from './options.js';
import { ConsumerLink } from './outgoing.js';
import { SaslServer, type SaslHost } from './sasl.js';
import { AmqpSession, type AttachAnswer, type AttachRequest, type SessionHost } from './session.js';
import { TransferFrame, isTransfer, readTransferFrame } from './transfers.js';

/** A link's identity on one connection, whose two container ids are the same for all its links [AMQP 2.6.1]. */
function linkKey(brokerSends: boolean, name: string): string {
  return `${brokerSends ? 'out' : 'in'}:${name}`;
}

const PRODUCT = 'Ferry';
const VERSION = '0.1.0';
/** A JMS client that sets a client id asks for this: its container id is then unique on the broker. */
const SOLE_CONNECTION = 'sole-connection-for-container';
/** [AMQP 2.7.1] the smallest max-frame-size a peer may announce. */
const MIN_MAX_FRAME_SIZE = 512;

/**
 * One AMQP 1.0 connection ([AMQP 2.4]): protocol headers, SASL, open and close, the idle time-out
 * both ways, and the sessions by channel; what happens on a session is session.ts's, what a link
 * means is attach.ts's and the links' own. Holds only what the wire needs: sessions and links and
 * the txn-ids it gave out. Durable subscriptions are owned by the client's container id.
 *
 * Input is split into frames here: a frame that lies whole within one chunk is read in place; only
 * one that straddles chunks is copied, once, when its last byte has come.
 */
export class AmqpConnection implements SessionHost, LinkContext, SaslHost {
  private readonly guard: FrameGuard;
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private needed = 8;
  private expectHeader = true;
  private layer: 'sasl' | 'amqp' = 'amqp';
  private amqpReady = false;
  private openReceived = false;
  private openSent = false;
  private sasl: SaslServer | undefined;
  /** What the SASL layer established: the proved exchange, or PLAIN's user and password. */
  private credentials: Credentials | undefined;
  peerMaxFrame = 0xffffffff;
  /** The client's channel-max: the highest channel the broker may begin a session on. */
  private peerChannelMax = 0xffff;
  private readonly sessions = new Map<number, AmqpSession>();
  private readonly channels: (AmqpSession | undefined)[] = [];
  private linkCount = 0;
  /** The links attached on the connection by role and name (`linkKey`), each with its session. */
  private readonly attachedLinks = new Map<string, { readonly session: AmqpSession; readonly link: Link }>();
  private coreConnection: CoreConnection | undefined;
  /** True while the broker decides (a SASL step, the open): input after it waits, unread. */
  private connecting = false;
  containerId = '';
  private nextTxn = 1;
  private readonly openTimer: NodeJS.Timeout;
  private idleTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** When bytes last came from the client (Date.now()). */
  private lastRead = Date.now();
  private failed = false;
  private readonly transfer = new TransferFrame();

  constructor(
    readonly transport: TransportConnection,
    readonly broker: BrokerAccess,
    readonly options: AmqpOptions,
    readonly logger: Logger,
    private readonly onClosed: (c: AmqpConnection) => void,
  ) {
    this.guard = new FrameGuard(options.maxFrameSize);
    this.openTimer = deadlineTimer(transport.openedAt, options.openTimeout, () => {
      this.fail(new FerryError('FERRY_AMQP_OPEN_TIMEOUT', `no open within ${options.openTimeout} ms`));
    });
    transport.setHandler({
      data: (chunk) => this.data(chunk),
      closed: (error) => this.closed(error),
    });
  }

  // bytes

  private data(chunk: Buffer): void {
    if (this.failed) return;
    this.lastRead = Date.now();
    const failure = this.guard.push(chunk);
    if (failure !== undefined) {
      if (failure.kind === 'header') {
        // [AMQP 2.2] a header the broker does not speak is answered with one it does, then the socket closes
        this.failed = true;
        this.logger.debug({ event: 'amqp.bad-header', remote: this.transport.remoteAddress, message: failure.message }, 'closing an AMQP connection');
        this.transport.write(failure.reply);
        this.transport.end();
        this.release();
        return;
      }
      // a header that came in the same chunk as the bad frame is still unanswered: answered now,
      // the close frame can say why ([AMQP 2.4.2]) instead of the socket just ending
      if (this.expectHeader && this.layer === 'amqp' && this.guard.pastPlainHeader) this.header(0);
      // likewise a SASL header: answered with the mechanisms, so the sasl-outcome can end the exchange
      else if (this.expectHeader && this.guard.pastSaslHeader) this.header(3);
      this.fail(new FerryError('FERRY_AMQP_FRAMING', failure.message));
      return;
    }
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    if (this.connecting || this.pendingLength < this.needed) return;
    this.process();
  }

  /** Reads every whole header and frame of the input so far; the rest waits for more. */
  private process(): void {
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLength);
    this.pending = [];
    this.pendingLength = 0;
    let at = 0;
    try {
      while (!this.failed && !this.connecting) {
        const left = buf.length - at;
        if (left < 8) {
          this.needed = 8;
          break;
        }
        if (this.expectHeader) {
          this.header(buf[at + 4]!);
          at += 8;
          continue;
        }
        const size = buf.readUInt32BE(at);
        if (left < size) {
          this.needed = size;
          break;
        }
        this.frame(buf, at, at + size);
        at += size;
      }
    } catch (err) {
      this.failWith(err);
      return;
    }
    if (!this.failed && at < buf.length) {
      this.pending.push(buf.subarray(at));
      this.pendingLength = buf.length - at;
    }
  }

  /** A protocol header the guard has checked: SASL (id 3) or AMQP (id 0). */
  private header(protocolId: number): void {
    this.expectHeader = false;
    if (protocolId === 3) {
      this.layer = 'sasl';
      this.transport.write(protocolHeader(3));
      this.sasl = new SaslServer(this);
      return;
    }
    this.layer = 'amqp';
    this.amqpReady = true;
    this.transport.write(protocolHeader(0));
  }

  private frame(buf: Buffer, start: number, end: number): void {
    if (this.layer === 'sasl') {
      this.saslFrame(buf, start, end);
      return;
    }
    if (isTransfer(buf, start, end)) {
      const transfer = readTransferFrame(buf, start, end, this.transfer);
      const session = this.sessionOn(transfer.channel);
      if (session !== undefined) {
        try {
          session.transfer(transfer);
        } catch (err) {
          this.sessionError(session, err);
        }
      }
      return;
    }
    const body = start + buf[start + 4]! * 4;
    if (body + 3 < end && buf[body] === 0x00 && buf[body + 1] === 0x53 && buf[body + 2] === Performative.disposition && this.openReceived) {
      this.sessionOn(buf.readUInt16BE(start + 6))?.dispositionFrame(buf, body + 3, end);
      return;
    }
    const f = readFrame(buf, start, end);
    // an empty frame: the peer keeping our idle time-out
    if (f === undefined) return;
    if (f.code === Performative.open) return this.openIn(f.fields);
    if (!this.openReceived) throw new AmqpConditionError('amqp:illegal-state', 'the first frame must be an open');
    switch (f.code) {
      case Performative.begin:
        return this.beginIn(f.channel, f.fields);
      case Performative.end:
        return this.endIn(f.channel, f.fields);
      case Performative.close:
        return this.closeIn(f.fields);
      default: {
        // no performative at all is a frame that does not decode, whichever channel it names
        if (f.code < Performative.open || f.code > Performative.close) throw new AmqpConditionError('amqp:decode-error', `0x${f.code.toString(16)} is no AMQP performative`);
        const session = this.sessionOn(f.channel);
        if (session === undefined) return;
        try {
          session.frame(f.code, f.fields);
        } catch (err) {
          this.sessionError(session, err);
        }
      }
    }
  }

  /**
   * A session error (`amqp:session:...`, as a handle the client never attached) ends that session
   * only ([AMQP 2.7.4] "the recipient MUST respond by ending the session with an unattached-handle
   * session error"): the connection and its other sessions go on, and what the client still sends
   * on that channel before its end is dropped. As a connection error's close, the end waits for the
   * dispositions of the session's transfers that wait on the store, so that a client resending what
   * was never settled does not send them twice. Any other error closes the connection.
   */
  private sessionError(session: AmqpSession, err: unknown): void {
    if (!(err instanceof AmqpConditionError) || !err.condition.startsWith('amqp:session:')) throw err;
    this.logger.warn({ event: 'amqp.session-error', condition: err.condition, code: err.code, message: err.message, remote: this.transport.remoteAddress }, 'ending an AMQP session');
    session.ending = true;
    const end = (): void => {
      setImmediate(() => session.end(amqpError(err)));
    };
    const core = this.coreConnection;
    if (core === undefined) end();
    else core.synced().then(end, end);
  }

  /**
   * [AMQP 2.7.1] "A peer that receives a channel number outside the supported range MUST close the
   * connection with the framing-error error-code": past the channel-max of the broker's open.
   */
  private checkChannel(channel: number): void {
    const channelMax = this.options.maxSessions - 1;
    if (channel > channelMax) throw new AmqpConditionError('amqp:connection:framing-error', `channel ${channel} is above the connection's channel-max ${channelMax}`);
  }

  /** The session on a channel; undefined for one the broker has ended and whose end is not yet answered. */
  private sessionOn(channel: number): AmqpSession | undefined {
    const session = this.sessions.get(channel);
    if (session === undefined) {
      this.checkChannel(channel);
      throw new AmqpConditionError('amqp:illegal-state', `channel ${channel} has no session`);
    }
    return session.ended || session.ending ? undefined : session;
  }

  private saslFrame(buf: Buffer, start: number, end: number): void {
    const f = readFrame(buf, start, end);
    if (f === undefined) return;
    if (this.sasl === undefined) throw new FerryError('FERRY_AMQP_PROTOCOL', 'a SASL frame after the sasl-outcome; the AMQP header must follow it');
    this.sasl.frame(f.code, f.fields);
  }

  // SaslHost

  get facts(): TransportFacts {
    return { remoteAddress: this.transport.remoteAddress, peerCertificate: this.transport.peerCertificate };
  }

  get remoteAddress(): string {
    return this.transport.remoteAddress;
  }

  get gone(): boolean {
    return this.failed || this.transport.closed;
  }

  write(frame: Buffer): void {
    this.transport.write(frame);
  }

  hold(): void {
    this.connecting = true;
    this.transport.pause();
  }

  readOn(): void {
    this.connecting = false;
    this.transport.resume();
    if (this.pendingLength > 0) this.process();
  }

  readAfter(stored: Promise<void>, then: () => void): void {
    this.hold();
    stored.then(
      () => {
        if (this.gone) return;
        then();
        this.readOn();
      },
      (err: unknown) => this.failWith(err),
    );
  }

  succeeded(credentials: Credentials): void {
    this.credentials = credentials;
    this.sasl = undefined;
    // [AMQP 5.3.2] after the outcome the client starts over with the AMQP header
    this.expectHeader = true;
  }

  refused(): void {
    this.failed = true;
    this.transport.end();
    this.release();
  }

  private closed(error: Error | undefined): void {
    // a peer that resets or vanishes is routine: what happened, without a stack
    if (error !== undefined) {
      this.logger.debug({ event: 'amqp.socket-error', code: (error as NodeJS.ErrnoException).code, message: error.message, remote: this.transport.remoteAddress }, 'AMQP socket closed with an error');
    }
    this.release();
    this.onClosed(this);
  }

  /**
   * The broker is stopping: a close with amqp:connection:forced tells the client why ([AMQP 2.4.3]
   * a close comes before the socket ends), as an operator's close does. The socket ends without
   * waiting for the client's close: a client that never answers must not hold the stop.
   */
  shutdown(): void {
    this.fail(new FerryError('FERRY_BROKER_STOPPING', 'broker shutdown'));
  }

  private failWith(err: unknown): void {
    if (!isFerryError(err)) {
      this.logger.error({ event: 'amqp.internal-error', err }, 'unexpected error in an AMQP connection');
    }
    this.fail(err);
  }

  /**
   * Closes the connection with an error condition; nothing else is affected. Once the AMQP header
   * is exchanged the close frame goes out (after the broker's open, which the specification asks
   * for even when the client's open never came); during SASL a sasl-outcome says the exchange is
   * over; before a header the socket just ends.
   */
  private fail(err: unknown, info: Record<string, string> = {}): void {
    if (this.failed || this.transport.closed) return;
    this.failed = true;
    const error = amqpError(err, info);
    // a client's mistake: its code, condition and text say it all (Ferry's own faults were logged with their stack by failWith);
    // a stop closes every connection, which is no one's mistake
    const stopping = isFerryError(err) && err.code === 'FERRY_BROKER_STOPPING';
    if (isFerryError(err) && !stopping) this.logger.warn({ event: 'amqp.error', condition: error.condition, code: err.code, message: error.description, remote: this.transport.remoteAddress }, 'closing an AMQP connection');
    const close = (): void => {
      if (this.transport.closed) return;
      // the sessions' gathered acceptances go out before the close
      this.release();
      if (this.amqpReady) {
        this.writeOpen();
        this.transport.write(amqpFrame(0, Performative.close, [put.error(error)]));
      } else if (this.layer === 'sasl') this.sasl?.abort();
      this.transport.end();
    };
    // Nothing more is read (`failed`), but the close waits for the dispositions of the transfers
    // before it that wait on the store: a connection error behind transfers the store has taken
    // must not cut off their acceptance, or a client that sends again what was never settled
    // (Qpid JMS after failover) sends them twice. One sync covers every earlier one, and a turn of
    // the event loop lets the settlements it frees run first. A stop has waited for that already.
    const core = this.coreConnection;
    if (core === undefined || stopping || isStoreRefusal(err)) close();
    else core.synced().then(() => setImmediate(close), () => setImmediate(close));
  }

  // connection

  private writeOpen(): void {
    if (this.openSent) return;
    this.openSent = true;
    const o = this.options;
    this.transport.write(
      amqpFrame(0, Performative.open, [
        put.string(this.broker.name),
        undefined,
        put.uint(o.maxFrameSize),
        put.ushort(o.maxSessions - 1),
        o.idleTimeout > 0 ? put.uint(o.idleTimeout) : undefined,
        undefined,
        undefined,
        // DELAYED_DELIVERY: Qpid JMS sends a delivery delay only to a peer that offers it
        put.symbols(['ANONYMOUS-RELAY', 'DELAYED_DELIVERY']),
        undefined,
        // as ActiveMQ's AMQP transport offers them: Qpid JMS then writes `queue://x` and `topic://x`, which say the kind outright
        put.symbolMap({ product: PRODUCT, version: VERSION, 'queue-prefix': 'queue://', 'topic-prefix': 'topic://' }),
      ]),
    );
  }

  private openIn(fields: readonly AmqpValue[]): void {
    if (this.openReceived) throw new AmqpConditionError('amqp:illegal-state', 'open already received');
    this.openReceived = true;
    clearTimeout(this.openTimer);
    const containerId = stringField(fields, 0, 'container-id');
    if (containerId === undefined) throw new FerryError('FERRY_AMQP_DECODE', 'the open has no container-id');
    this.containerId = containerId;
    this.peerMaxFrame = Math.max(MIN_MAX_FRAME_SIZE, optionalUint(fields, 2, 'max-frame-size') ?? 0xffffffff);
    this.peerChannelMax = optionalUint(fields, 3, 'channel-max') ?? 0xffff;
    const peerIdle = optionalUint(fields, 4, 'idle-time-out') ?? 0;
    const sole = symbolsField(fields, 8).includes(SOLE_CONNECTION);
    // what follows the open waits until the broker has decided on the connection
    this.connecting = true;
    this.transport.pause();
    this.broker
      .connect({
        protocol: 'amqp',
        transport: { remoteAddress: this.transport.remoteAddress, peerCertificate: this.transport.peerCertificate },
        credentials: this.credentials,
        clientId: sole && containerId !== '' ? containerId : undefined,
        // ActiveMQ's AMQP transport makes the container id the connection's client id: its advisories name it
        name: containerId === '' ? undefined : containerId,
      })
      .then(
        (core) => {
          this.connecting = false;
          if (this.failed || this.transport.closed) {
            core.close();
            return;
          }
          this.coreConnection = core;
          // the broker closes the connection itself (its user was removed): the close carries amqp:unauthorized-access
          core.onRevoked = (reason) => this.fail(reason);
          this.writeOpen();
          this.logger.debug({ event: 'amqp.connected', connection: core.id, container: containerId, remote: this.transport.remoteAddress }, 'AMQP client connected');
          this.transport.resume();
          if (this.pendingLength > 0) this.process();
        },
        (err: unknown) => {
          this.connecting = false;
          this.transport.resume();
          // [AMQP JMS mapping, sole-connection-for-container] the close names the offending field
          if (isFerryError(err)) this.fail(err, isFerryError(err, 'FERRY_CLIENT_ID_IN_USE') ? { 'invalid-field': 'container-id' } : {});
          else this.failWith(err);
        },
      );
    if (this.options.idleTimeout > 0) this.checkIdle();
    if (peerIdle > 0) {
      // empty frames at half the client's time-out keep it from closing an idle connection
      this.heartbeatTimer = setInterval(() => this.transport.write(EMPTY_FRAME), Math.max(1, Math.floor(peerIdle / 2)));
      this.heartbeatTimer.unref();
    }
  }

  /**
   * [AMQP 2.4.5] the broker announces half of what it allows, as the specification asks: a client
   * from which nothing has come for twice the announced idle-time-out is closed, then and not a
   * period later. The timer is set for the moment the silence would reach that limit, and set again
   * from the last read when something came meanwhile.
   */
  private checkIdle(): void {
    const limit = 2 * this.options.idleTimeout;
    const now = Date.now();
    // while the broker holds reading (deciding on the open, storing a durable subscription) the silence is its own
    if (this.connecting) this.lastRead = now;
    const silent = now - this.lastRead;
    if (silent >= limit) {
      confirmSilence(
        () => !this.connecting && Date.now() - this.lastRead >= limit,
        () => this.fail(new AmqpConditionError('amqp:resource-limit-exceeded', `no frame for ${limit} ms (twice amqp.idleTimeout)`)),
        () => this.checkIdle(),
      );
      return;
    }
    this.idleTimer = setTimeout(() => this.checkIdle(), timerDelay(limit - silent));
    this.idleTimer.unref();
  }

  private closeIn(fields: readonly AmqpValue[]): void {
    const error = fields[0];
    if (error !== null && error !== undefined) this.logger.debug({ event: 'amqp.client-closed', error: String(error) }, 'AMQP client closed with an error');
    this.failed = true;
    this.transport.write(amqpFrame(0, Performative.close, []));
    this.transport.end();
    this.release();
  }

  core(): CoreConnection {
    if (this.coreConnection === undefined) throw new FerryError('FERRY_CONNECTION_CLOSED', 'the connection is closed');
    return this.coreConnection;
  }

  /** Closes everything the connection owns in core and stops its timers; safe to call more than once. */
  private release(): void {
    clearTimeout(this.openTimer);
    clearTimeout(this.idleTimer);
    clearInterval(this.heartbeatTimer);
    for (const session of this.sessions.values()) session.close();
    this.sessions.clear();
    this.channels.length = 0;
    const core = this.coreConnection;
    this.coreConnection = undefined;
    core?.close();
  }

  // sessions

  private beginIn(remoteChannel: number, fields: readonly AmqpValue[]): void {
    this.checkChannel(remoteChannel);
    if (this.sessions.has(remoteChannel)) throw new AmqpConditionError('amqp:illegal-state', `channel ${remoteChannel} already has a session`);
    if (fields[0] !== null && fields[0] !== undefined) throw new AmqpConditionError('amqp:illegal-state', 'a begin answers one the broker never sent');
    let channel = this.channels.indexOf(undefined);
    if (channel < 0) channel = this.channels.length;
    // [AMQP 2.7.1] the broker's channels stay within the client's channel-max, which also says how
    // many sessions the client can have: the broker cannot answer a begin past it
    if (channel > this.peerChannelMax) throw new AmqpConditionError('amqp:resource-limit-exceeded', `more sessions than the client's channel-max ${this.peerChannelMax} allows`);
    const session = new AmqpSession(this, channel, remoteChannel, fields, this.core().createSession());
    this.sessions.set(remoteChannel, session);
    this.channels[channel] = session;
    session.begun();
    if (this.sessions.size > this.options.maxSessions) {
      session.end({ condition: 'amqp:resource-limit-exceeded', description: `more than ${this.options.maxSessions} sessions (amqp.maxSessions)` });
    }
  }

  private endIn(remoteChannel: number, fields: readonly AmqpValue[]): void {
    const session = this.sessions.get(remoteChannel);
    if (session === undefined) throw new AmqpConditionError('amqp:illegal-state', `end on channel ${remoteChannel}, which has no session`);
    const error = fields[0];
    if (error !== null && error !== undefined) this.logger.debug({ event: 'amqp.session-ended', error: String(error) }, 'AMQP client ended a session with an error');
    // answers the client's end, or is the client's answer to the broker's
    session.end();
    this.sessions.delete(remoteChannel);
    this.channels[session.channel] = undefined;
  }

  // links (SessionHost)

  openLink(session: AmqpSession, request: AttachRequest, handle: number): AttachAnswer {
    // [AMQP 2.6.1] a link is its name, its role and the two containers, and only one such link is
    // attached at a time: an attach of a name attached on this connection in the same role steals
    // the link, as the spec allows and Qpid Broker-J and Artemis do, rather than being refused. The
    // client that attaches again (after losing track of the first link) gets what it asked for;
    // nothing the first link held is lost, it goes back to its queue as redelivered.
    const key = linkKey(request.clientReceives, request.name);
    const attached = this.attachedLinks.get(key);
    if (attached !== undefined) attached.session.steal(attached.link);
    if (this.linkCount >= this.options.maxLinks) {
      throw new AmqpConditionError('amqp:resource-limit-exceeded', `more than ${this.options.maxLinks} links (amqp.maxLinks)`);
    }
    const answer = openLink(this, session, request, handle);
    this.linkCount++;
    this.attachedLinks.set(key, { session, link: answer.link });
    return answer;
  }

  linkGone(link: Link): void {
    this.linkCount--;
    const key = linkKey(link instanceof ConsumerLink, link.name);
    if (this.attachedLinks.get(key)?.link === link) this.attachedLinks.delete(key);
  }

  linkRefused(request: AttachRequest, err: unknown): AmqpError {
    if (!isFerryError(err)) throw err;
    const error = amqpError(err);
    this.logger.warn({ event: 'amqp.link-refused', link: request.name, condition: error.condition, message: error.description, remote: this.transport.remoteAddress }, 'AMQP link refused');
    return error;
  }

  // transactions (LinkOwner)

  private txName(txnId: Buffer): string {
    return `amqp:${txnId.toString('hex')}`;
  }

  transactionName(txnId: Buffer): string {
    const name = this.txName(txnId);
    this.core().assertTransaction(name);
    return name;
  }

  declareTransaction(): Buffer {
    const id = Buffer.allocUnsafe(4);
    id.writeUInt32BE(this.nextTxn++ >>> 0);
    this.core().begin(this.txName(id));
    return id;
  }

  dischargeTransaction(txnId: Buffer, fail: boolean): Promise<void> | null {
    const core = this.core();
    if (fail) {
      core.rollback(this.txName(txnId));
      return null;
    }
    const durable = core.commit(this.txName(txnId));
    // memoryPolicy block: a commit that filled a queue is settled once that queue has room, as
    // OpenWire's commit Response waits; the client's next transaction waits with it
    const room = core.roomAfterCommit;
    if (room === undefined) return durable;
    return Promise.all([durable, room]).then(() => undefined);
  }
}
