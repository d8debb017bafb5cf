import type { BrokerAccess, CoreConnection, Credentials, Logger } from '../../core/index.js';
import { errorFields, isFerryError, type ErrorCode } from '../../errors.js';
import { ReadHold, type TransportConnection } from '../../transport/index.js';
import { Amqp091Channel, type ChannelHost } from './channel.js';
import { Amqp091Error, isConnectionException, Reply, replyCodeOf, replyText } from './errors.js';
import { FieldReader, tableOf, type FieldTable } from './field-table.js';
import { FrameReader, HEARTBEAT_FRAME, PROTOCOL_HEADER } from './frames.js';
import { decodeMethod, encodeMethod, FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, type Method, type MethodArgs, type MethodName } from './methods.js';
import type { Amqp091Options } from './options.js';

const PRODUCT = 'Ferry';
const VERSION = '0.1.0';
/** The frame-max every peer accepts before tune ([AMQP 0-9-1 4.2.3]: frames before tune-ok are at most this). */
const MIN_FRAME_MAX = 4096;
/** How long the broker waits for close-ok after its own connection.close before it drops the socket. */
const CLOSE_OK_WAIT = 1_000;

type Phase = 'header' | 'start-ok' | 'authenticating' | 'tune-ok' | 'open' | 'opened' | 'closing' | 'closed';

/**
 * One AMQP 0-9-1 connection: the protocol header, start/tune/open, heartbeats both ways, the
 * channels, and every error as a channel or connection exception in the protocol's terms.
 */
export class Amqp091Connection implements ChannelHost {
  private phase: Phase = 'header';
  private header = Buffer.alloc(0);
  private readonly reader: FrameReader;
  private readonly channels = new Map<number, Amqp091Channel>();
  core: CoreConnection | undefined;
  frameMax: number;
  private channelMax: number;
  private heartbeat = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private heard = true;
  private wrote = false;
  /** A publish that filled a queue with memoryPolicy block stops reading until it has room. */
  private readonly readHold: ReadHold;
  /** Frames that came while `connect` was under way, handled once it resolves. */
  private held: Buffer[] | undefined;
  /** Frames of the read under way when the connection was held (payloads are views of socket reads, which are never reused). */
  private heldFrames: { type: number; channel: number; payload: Buffer }[] = [];
  private heldBytes = 0;
  clientCapabilities: FieldTable = new Map();

  constructor(
    readonly transport: TransportConnection,
    private readonly broker: BrokerAccess,
    readonly options: Amqp091Options,
    readonly logger: Logger,
    private readonly onClosed: (c: Amqp091Connection) => void,
  ) {
    this.frameMax = options.frameMax;
    this.channelMax = options.channelMax;
    this.readHold = new ReadHold(transport);
    this.reader = new FrameReader(MIN_FRAME_MAX, { frame: (type, channel, payload) => this.frame(type, channel, payload) });
    this.handshakeTimer = setTimeout(() => this.timedOut('the handshake did not finish in time'), options.handshakeTimeout);
    this.handshakeTimer.unref?.();
    transport.setHandler({ data: (chunk) => this.data(chunk), closed: () => this.closed() });
  }

  get user(): string | undefined {
    return this.core?.principal.username;
  }

  write(frame: Buffer): void {
    this.wrote = true;
    this.transport.write(frame);
  }

  send<M extends MethodName>(channel: number, name: M, args: MethodArgs<M>): void {
    this.write(encodeMethod(channel, name, args));
  }

  /** A content frame written by a channel counts as traffic for the heartbeat too. */
  noteWrite(): void {
    this.wrote = true;
  }

  private data(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    if (this.held !== undefined) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      // a client waits for tune before it says more: one that keeps sending while it is authenticated is not buffered without end
      if (this.phase === 'authenticating' && this.heldBytes > this.options.frameMax) this.drop('FERRY_AMQP091_PROTOCOL', 'a client sent more than frame-max before its login was decided');
      return;
    }
    try {
      if (this.phase === 'header') {
        this.header = Buffer.concat([this.header, chunk]);
        if (this.header.length < 8) return;
        const rest = this.header.subarray(8);
        if (!this.header.subarray(0, 8).equals(PROTOCOL_HEADER)) {
          // [AMQP 0-9-1 4.2.2] a server that does not speak the version asked for answers with the one it does, and closes
          this.logger.warn({ event: 'amqp091.bad-header', remote: this.transport.remoteAddress }, 'a client sent a protocol header other than AMQP 0-9-1');
          this.transport.write(PROTOCOL_HEADER);
          this.phase = 'closed';
          this.transport.end();
          return;
        }
        this.header = Buffer.alloc(0);
        this.start();
        if (rest.length > 0) this.reader.push(rest);
        return;
      }
      this.reader.push(chunk);
    } catch (err) {
      this.fail(err, 0, 0, 0);
    }
  }

  private start(): void {
    this.phase = 'start-ok';
    const mechanisms = this.broker.saslMechanisms(this.transport).filter((m) => m === 'PLAIN');
    this.send(0, 'connection.start', {
      versionMajor: 0,
      versionMinor: 9,
      serverProperties: tableOf({
        product: PRODUCT,
        version: VERSION,
        platform: `Node.js ${process.version}`,
        information: 'https://ferry.dev',
        capabilities: tableOf({
          publisher_confirms: true,
          exchange_exchange_bindings: true,
          'basic.nack': true,
          consumer_cancel_notify: true,
          'connection.blocked': true,
          consumer_priorities: true,
          authentication_failure_close: true,
          per_consumer_qos: true,
          direct_reply_to: true,
        }),
        cluster_name: this.broker.name,
      }),
      mechanisms: Buffer.from([...mechanisms, 'PLAIN', 'AMQPLAIN'].filter((m, i, all) => all.indexOf(m) === i).join(' ')),
      locales: Buffer.from('en_US'),
    });
  }

  /** Every frame, in order; a method on channel 0 is the connection's, any other the channel's. */
  private frame(type: number, channel: number, payload: Buffer): void {
    this.heard = true;
    if (this.phase === 'closed') return;
    if (this.held !== undefined) {
      this.heldFrames.push({ type, channel, payload });
      return;
    }
    if (type === FRAME_HEARTBEAT) {
      if (channel !== 0) throw new Amqp091Error('FERRY_AMQP091_FRAMING', Reply.frameError, 'a heartbeat frame on a channel other than 0');
      return;
    }
    if (this.phase === 'closing') {
      // after its close the broker reads nothing but close and close-ok ([AMQP 0-9-1 2.2.4])
      if (type === FRAME_METHOD && channel === 0) {
        const m = decodeMethod(payload);
        if (m.name === 'connection.close') this.send(0, 'connection.close-ok', {});
        if (m.name === 'connection.close-ok' || m.name === 'connection.close') this.finish(false);
      }
      return;
    }
    if (channel === 0) {
      if (type !== FRAME_METHOD) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.commandInvalid, 'content on channel 0');
      const m = decodeMethod(payload);
      try {
        return this.connectionMethod(m);
      } catch (err) {
        return this.fail(err, 0, m.classId, m.methodId);
      }
    }
    if (this.phase !== 'opened') throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.channelError, `a frame on channel ${channel} before the connection is open`);
    const ch = this.channels.get(channel);
    if (type === FRAME_METHOD) {
      const m = decodeMethod(payload);
      if (ch === undefined) {
        // the client closed the channel while the broker was closing it: the broker answered its
        // close and let the channel go, and this is the client's answer to the broker's close
        if (m.name === 'channel.close-ok') return;
        if (m.name !== 'channel.open') throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.channelError, `channel ${channel} is not open`);
        if (channel > this.channelMax) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.channelError, `channel ${channel} is over channel-max ${this.channelMax}`);
        this.channels.set(channel, new Amqp091Channel(channel, this));
        this.send(channel, 'channel.open-ok', { channelId: Buffer.alloc(0) });
        return;
      }
      return ch.method(m);
    }
    if (ch === undefined) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.channelError, `channel ${channel} is not open`);
    if (type === FRAME_HEADER) return ch.contentHeader(payload);
    if (type === FRAME_BODY) return ch.contentBody(payload);
  }

  private connectionMethod(m: Method): void {
    const expected = this.phase;
    switch (m.name) {
      case 'connection.start-ok':
        if (expected !== 'start-ok') break;
        return this.startOk(m.args);
      case 'connection.tune-ok':
        if (expected !== 'tune-ok') break;
        return this.tuneOk(m.args);
      case 'connection.open':
        if (expected !== 'open') break;
        if (m.args.virtualHost !== '/') {
          throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.notAllowed, `vhost '${m.args.virtualHost}' not found: Ferry has one virtual host, '/'`);
        }
        this.phase = 'opened';
        clearTimeout(this.handshakeTimer);
        this.send(0, 'connection.open-ok', { knownHosts: '' });
        return;
      case 'connection.close':
        this.send(0, 'connection.close-ok', {});
        this.finish(true);
        return;
      case 'connection.close-ok':
        break;
      case 'connection.blocked':
      case 'connection.unblocked':
        return;
      case 'connection.update-secret':
        // a token refresh: Ferry's credentials are checked once, at connect
        this.send(0, 'connection.update-secret-ok', {});
        return;
      default:
        if (m.classId !== 10) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.commandInvalid, `${m.name} on channel 0`);
    }
    throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.commandInvalid, `${m.name} is not expected now`);
  }

  private startOk(args: MethodArgs<'connection.start-ok'>): void {
    const capabilities = args.clientProperties.get('capabilities');
    if (capabilities instanceof Map) this.clientCapabilities = capabilities;
    const credentials = this.credentials(args.mechanism, args.response);
    this.phase = 'authenticating';
    this.held = [];
    this.transport.pause();
    this.broker
      .connect({ protocol: 'amqp091', transport: { remoteAddress: this.transport.remoteAddress, peerCertificate: this.transport.peerCertificate }, credentials })
      .then(
        (core) => {
          if (this.phase !== 'authenticating') return core.close();
          this.core = core;
          core.onRevoked = (reason) => this.closeWith(Reply.connectionForced, reason.message, 0, 0);
          this.phase = 'tune-ok';
          this.send(0, 'connection.tune', { channelMax: this.options.channelMax, frameMax: this.options.frameMax, heartbeat: this.options.heartbeat });
          this.release();
        },
        (err: unknown) => {
          if (this.phase !== 'authenticating') return;
          this.held = undefined;
          this.transport.resume();
          this.logger.warn({ event: 'amqp091.refused', remote: this.transport.remoteAddress, ...errorFields(err) }, 'an AMQP 0-9-1 connection was refused');
          // a user at its connection limit hears not-allowed, as from RabbitMQ
          const code = isFerryError(err, 'FERRY_LIMIT_EXCEEDED') ? Reply.notAllowed : Reply.accessRefused;
          const text = isFerryError(err, 'FERRY_AUTHENTICATION_FAILED') ? `ACCESS_REFUSED - Login was refused using authentication mechanism ${args.mechanism}` : replyText(code === Reply.notAllowed ? code : replyCodeOf(err), (err as Error).message);
          this.closeWithText(code, text, 0, 0);
        },
      );
  }

  private credentials(mechanism: string, response: Buffer): Credentials {
    if (mechanism === 'PLAIN') {
      // [RFC 4616] authzid NUL authcid NUL passwd
      const parts = response.toString('utf8').split('\0');
      if (parts.length !== 3) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.accessRefused, 'a PLAIN response is authzid NUL user NUL password');
      return { username: parts[1]!, password: parts[2]! };
    }
    if (mechanism === 'AMQPLAIN') {
      // a field table without its length prefix: LOGIN and PASSWORD
      const prefixed = Buffer.allocUnsafe(4 + response.length);
      prefixed.writeUInt32BE(response.length, 0);
      response.copy(prefixed, 4);
      const table = new FieldReader(prefixed, 0, prefixed.length).table();
      const login = table.get('LOGIN');
      const password = table.get('PASSWORD');
      return { username: typeof login === 'string' ? login : undefined, password: typeof password === 'string' ? password : undefined };
    }
    throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.accessRefused, `the mechanism ${mechanism} is not offered`);
  }

  /**
   * Reads nothing more from the client until `stored` resolves, then runs `reply` and goes on with
   * what came meanwhile: a declare, bind, delete or purge is answered once it is on disk, so a kill -9
   * after the answer keeps it, and nothing the client sent after it (a consume of the queue just
   * declared) is answered first.
   */
  replyWhenStored(stored: Promise<void>, reply: () => void): void {
    this.held = [];
    this.transport.pause();
    stored.then(
      () => {
        if (this.phase === 'closed') return;
        reply();
        this.release();
      },
      (err: unknown) => this.fail(err, 0, 0, 0),
    );
  }

  /** Hands over what came while the connection was held: the frames already split, then the chunks. */
  private release(): void {
    const frames = this.heldFrames;
    const chunks = this.held ?? [];
    this.heldFrames = [];
    this.held = undefined;
    this.heldBytes = 0;
    this.transport.resume();
    for (let i = 0; i < frames.length; i++) {
      if (this.held !== undefined || this.phase === 'closed') {
        this.heldFrames.push(...frames.slice(i));
        break;
      }
      const f = frames[i]!;
      try {
        this.frame(f.type, f.channel, f.payload);
      } catch (err) {
        this.fail(err, 0, 0, 0);
      }
    }
    for (const chunk of chunks) this.data(chunk);
  }

  private tuneOk(args: MethodArgs<'connection.tune-ok'>): void {
    // [AMQP 0-9-1 connection.tune-ok] the client may lower the server's limits, never raise them
    if (args.frameMax !== 0 && args.frameMax < MIN_FRAME_MAX) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.notAllowed, `frame-max ${args.frameMax} is under the least allowed, ${MIN_FRAME_MAX}`);
    if (args.frameMax > this.options.frameMax) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.notAllowed, `frame-max ${args.frameMax} is over the broker's ${this.options.frameMax}`);
    if (args.channelMax > this.options.channelMax) throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.notAllowed, `channel-max ${args.channelMax} is over the broker's ${this.options.channelMax}`);
    this.frameMax = args.frameMax === 0 ? this.options.frameMax : args.frameMax;
    this.channelMax = args.channelMax === 0 ? this.options.channelMax : args.channelMax;
    this.reader.frameMax = this.frameMax;
    this.heartbeat = args.heartbeat;
    if (this.heartbeat > 0) this.startHeartbeats();
    this.phase = 'open';
  }

  /**
   * A heartbeat goes out when nothing else did for half the interval; a client that sends nothing
   * for two intervals is gone ([AMQP 0-9-1 4.2.7]), found within half an interval more.
   */
  private startHeartbeats(): void {
    let ticks = 0;
    let lastHeard = 0;
    const halfInterval = (this.heartbeat * 1000) / 2;
    this.heartbeatTimer = setInterval(() => {
      if (!this.wrote) this.transport.write(HEARTBEAT_FRAME);
      this.wrote = false;
      ticks++;
      // a held publisher's frames wait unread: its silence is ours
      if (this.heard || this.readHold.held) {
        lastHeard = ticks;
        this.heard = false;
      } else if (ticks - lastHeard >= 4) this.timedOut(`no frame from the client for ${2 * this.heartbeat} seconds`);
    }, halfInterval);
    this.heartbeatTimer.unref?.();
  }

  /**
   * A publish filled a queue with memoryPolicy block: no more is read from this connection until the
   * queue has room, as RabbitMQ does under a memory alarm, and a client that asked for it hears
   * connection.blocked and connection.unblocked.
   */
  holdPublishers(room: Promise<void> | undefined): void {
    if (room === undefined || this.readHold.held) return;
    this.readHold.until(room);
    const tell = this.clientCapabilities.get('connection.blocked') === true;
    if (tell) this.send(0, 'connection.blocked', { reason: 'a queue is at its memoryLimit (memoryPolicy block)' });
    void room.then(() => {
      this.heard = true;
      if (tell && !this.transport.closed) this.send(0, 'connection.unblocked', {});
    });
  }

  private timedOut(text: string): void {
    this.drop('FERRY_AMQP091_HEARTBEAT_TIMEOUT', text);
  }

  /** Closes the socket without a connection.close: the client is gone, or is not listening. */
  private drop(code: ErrorCode, text: string): void {
    if (this.phase === 'closed') return;
    this.logger.warn({ event: 'amqp091.dropped', remote: this.transport.remoteAddress, code }, text);
    this.phase = 'closed';
    this.transport.destroy();
  }

  /** A failure while handling a frame: a channel exception closes its channel, any other the connection. */
  fail(err: unknown, channel: number, classId: number, methodId: number): void {
    const code = replyCodeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    if (code === Reply.internalError && !isFerryError(err)) this.logger.error({ event: 'amqp091.internal', remote: this.transport.remoteAddress, err }, 'an AMQP 0-9-1 frame failed inside the broker');
    else this.logger.warn({ event: 'amqp091.error', remote: this.transport.remoteAddress, replyCode: code, ...errorFields(err) }, 'an AMQP 0-9-1 client broke the protocol');
    const ch = channel === 0 ? undefined : this.channels.get(channel);
    if (!isConnectionException(code) && ch !== undefined && this.phase === 'opened') return ch.closeWith(code, message, classId, methodId);
    this.closeWith(code, message, classId, methodId);
  }

  closeWith(code: number, text: string, classId: number, methodId: number): void {
    this.closeWithText(code, replyText(code, text), classId, methodId);
  }

  private closeWithText(code: number, text: string, classId: number, methodId: number): void {
    if (this.phase === 'closing' || this.phase === 'closed') return;
    const before = this.phase;
    this.phase = 'closing';
    this.held = undefined;
    this.transport.resume();
    this.endChannels();
    if (before === 'header') {
      this.finish(false);
      return;
    }
    this.send(0, 'connection.close', { replyCode: code, replyText: text, classId, methodId });
    this.closeTimer = setTimeout(() => this.finish(false), CLOSE_OK_WAIT);
    this.closeTimer.unref?.();
  }

  /** Called by a channel that got a method it handles on behalf of its caller's frame. */
  channelClosed(channel: number): void {
    this.channels.delete(channel);
  }

  /** The broker is stopping: 320 CONNECTION_FORCED, as RabbitMQ says at shutdown. */
  shutdown(): void {
    if (this.phase === 'opened' || this.phase === 'open' || this.phase === 'tune-ok') this.closeWith(Reply.connectionForced, 'broker shutdown', 0, 0);
    else this.finish(false);
  }

  private endChannels(): void {
    for (const ch of this.channels.values()) ch.end();
    this.channels.clear();
    this.core?.close();
  }

  private finish(clientClosed: boolean): void {
    if (this.phase === 'closed') return;
    if (clientClosed) this.endChannels();
    this.phase = 'closed';
    clearTimeout(this.closeTimer);
    this.transport.end();
    this.stopTimers();
  }

  private stopTimers(): void {
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.closeTimer);
    clearInterval(this.heartbeatTimer);
  }

  private closed(): void {
    this.stopTimers();
    if (this.phase !== 'closed') {
      this.phase = 'closed';
      for (const ch of this.channels.values()) ch.end();
      this.channels.clear();
    }
    this.core?.close();
    this.onClosed(this);
  }

  /** Whether the client said it handles a server-sent basic.cancel. */
  get cancelNotify(): boolean {
    return this.clientCapabilities.get('consumer_cancel_notify') === true;
  }
}
