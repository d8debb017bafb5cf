import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { FerryError, isStoreRefusal } from '../../errors.js';
import type { BrokerAccess, Logger } from '../../core/index.js';
import { deadlineTimer, type TransportConnection } from '../../transport/index.js';
import type { MqttOptions } from './options.js';
import type { SessionStates } from './session-state.js';
import type { KeepAliveWheel } from './keep-alive.js';
import { checkPropertiesWhole, decodePublish, type PacketReceiver } from './framing.js';
import { MqttConnection } from './connection.js';
import { onAuth } from './auth.js';
import { connect } from './connect.js';
import { onPublish, onPubrel } from './inbound.js';
import { onPuback, onPubcomp, onPubrec, wakeAfterRead } from './outbound.js';
import { mqttReasonOf } from './reasons.js';
import { onSubscribe, onUnsubscribe } from './subscriptions.js';
import { onDisconnect, release } from './will-and-expiry.js';

const PINGRESP = Buffer.from([0xd0, 0]);
/** Control packet names by type (the first byte's high four bits). */
const PACKET_NAMES = ['reserved type 0', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP', 'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH'];

/**
 * One MQTT connection: reads its packets and hands each to the handler of its concern (see
 * connection.ts); answers bad input and closes the connection.
 */
export class MqttSession extends MqttConnection implements PacketReceiver {
  /** A close is on its way (`fail`): the first failure is the one the client is told. */
  private failing = false;
  /** The connection's first byte has been read: it told whether the first packet is a CONNECT. */
  private started = false;

  constructor(
    transport: TransportConnection,
    broker: BrokerAccess,
    options: MqttOptions,
    states: SessionStates,
    logger: Logger,
    counters: { received: number; sent: number },
    keepAlive: KeepAliveWheel,
    private readonly onClosed: (session: MqttSession) => void,
  ) {
    super(transport, broker, options, states, logger, counters, keepAlive);
    this.connectTimer = deadlineTimer(transport.openedAt, options.connectTimeout, () => {
      this.fail(new FerryError('FERRY_MQTT_CONNECT_TIMEOUT', `no CONNECT packet within ${options.connectTimeout} ms`));
    });
    // the session is its own handler: two closures and an object less for every connection
    transport.setHandler(this);
  }

  /** TransportHandler: a chunk read. */
  data(chunk: Buffer): void {
    if (this.closing) return;
    this.lastReceived = Date.now();
    if (!this.started && chunk.length > 0) {
      this.started = true;
      // [MQTT-3.1.0-1]: the first byte tells a first packet that is no CONNECT; waiting for the rest
      // (another protocol's bytes can announce a long packet) would hold the connection until
      // mqtt.connectTimeout
      const type = chunk[0]! >> 4;
      if (type !== 1) return this.fail(new FerryError('FERRY_MQTT_NOT_CONNECTED', `${PACKET_NAMES[type]!} before CONNECT; the first packet must be CONNECT`));
    }
    this.framer.push(chunk);
    this.afterRead();
  }

  override afterRead(): void {
    this.flushAcks();
    if (this.wakeAll || this.toWake.length > 0) wakeAfterRead(this);
  }

  /** PacketReceiver: one whole packet. */
  override packet(buf: Buffer, start: number, bodyStart: number, end: number): boolean {
    if (this.held !== undefined) {
      // the broker is still deciding on CONNECT: later packets wait for the CONNACK
      this.held.push({ packet: Buffer.from(buf.subarray(start, end)), bodyStart: bodyStart - start });
      return true;
    }
    if (this.core !== undefined) {
      try {
        if (this.onMessagePathPacket(buf, start, bodyStart, end)) return !this.closing;
      } catch (err) {
        this.fail(err);
        return false;
      }
    }
    // mqtt-packet emits the packet (or its error) before parse returns
    const parser = (this.parser ??= this.newParser());
    const type = buf[start]! >> 4;
    if (type === 3) this.parsingPublish = { buf, start, bodyStart, end };
    try {
      parser.parse(buf.subarray(start, end));
    } finally {
      this.parsingPublish = undefined;
    }
    if (type < 3 || type > 7) this.parser = undefined;
    return !this.closing;
  }

  private newParser(): ReturnType<typeof mqttPacket.parser> {
    // the version CONNECT chose shapes how later packets parse (MQTT 5 properties, reason codes)
    const parser = mqttPacket.parser(this.core === undefined && this.auth === undefined ? {} : { protocolVersion: this.version });
    parser.on('packet', (packet: Packet) => this.onPacket(packet));
    parser.on('error', (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      if (this.core === undefined && /protocol version/i.test(message)) {
        const unsupported = new FerryError('FERRY_MQTT_UNSUPPORTED_VERSION', `unsupported protocol version: ${message}`);
        // [MQTT-3.1.2-2]: an unsupported level gets CONNACK 0x01 (3.1.1's layout, which any version can read)
        this.write(Buffer.from([0x20, 2, 0, mqttReasonOf(unsupported).legacyConnack!]));
        this.fail(unsupported);
        return;
      }
      this.fail(new FerryError('FERRY_MQTT_MALFORMED', `malformed packet: ${message}`));
    });
    return parser;
  }

  /**
   * PUBLISH, its acknowledgements and PINGREQ in their usual shape, decoded here (see framing.ts
   * for why); false leaves the packet to mqtt-packet: an MQTT 5 PUBLISH with properties, an
   * acknowledgement with a reason code, anything with bad flags.
   */
  private onMessagePathPacket(buf: Buffer, start: number, bodyStart: number, end: number): boolean {
    const first = buf[start]!;
    if (first === 0xc0) {
      if (end !== bodyStart) return false;
      this.counters.received++;
      this.write(PINGRESP);
      return true;
    }
    // PUBACK, PUBREC, PUBREL (flags 0010) and PUBCOMP carrying a packet id and nothing more
    if (first === 0x40 || first === 0x50 || first === 0x62 || first === 0x70) {
      if (end - bodyStart !== 2) return false;
      this.counters.received++;
      const id = (buf[bodyStart]! << 8) | buf[bodyStart + 1]!;
      if (first === 0x40) onPuback(this, id);
      else if (first === 0x50) onPubrec(this, id, 0);
      else if (first === 0x62) onPubrel(this, id);
      else onPubcomp(this, id);
      return true;
    }
    if (first >> 4 !== 3) return false;
    const publish = decodePublish(buf, start, bodyStart, end, this.version === 5, this.knownTopic);
    if (publish === undefined) return false;
    if (publish.topic !== this.knownTopic?.text) {
      const topicStart = bodyStart + 2;
      this.knownTopic = { bytes: Buffer.from(buf.subarray(topicStart, topicStart + ((buf[bodyStart]! << 8) | buf[bodyStart + 1]!))), text: publish.topic };
    }
    this.counters.received++;
    onPublish(this, publish, undefined);
    return true;
  }

  /** PacketReceiver: a fixed header that does not parse. */
  override malformed(err: FerryError): void {
    this.fail(err);
  }

  /** PacketReceiver: a packet over mqtt.maxPacketSize, refused from its fixed header. */
  override tooLarge(size: number): void {
    this.fail(new FerryError('FERRY_MQTT_PACKET_TOO_LARGE', `a packet of ${size} bytes is over the limit of ${this.options.maxPacketSize} (mqtt.maxPacketSize)`));
  }

  private onPacket(packet: Packet): void {
    if (this.closing) return;
    try {
      checkPropertiesWhole(packet as { properties?: object; will?: { properties?: object } | null });
      if (this.core === undefined && this.auth !== undefined) {
        // [MQTT-3.1.2-30]: between a CONNECT with an Authentication Method and its CONNACK, only AUTH and DISCONNECT
        if (packet.cmd === 'auth') return onAuth(this, packet);
        if (packet.cmd === 'disconnect') return this.shutdown();
        throw new FerryError('FERRY_MQTT_PROTOCOL', `${packet.cmd.toUpperCase()} during the CONNECT's authentication exchange; only AUTH or DISCONNECT may come before CONNACK`);
      }
      if (this.core === undefined) {
        // [MQTT-3.1.0-1]: the first packet must be CONNECT
        if (packet.cmd !== 'connect') throw new FerryError('FERRY_MQTT_NOT_CONNECTED', `${packet.cmd.toUpperCase()} before CONNECT; the first packet must be CONNECT`);
        connect(this, packet);
        return;
      }
      this.counters.received++;
      switch (packet.cmd) {
        case 'publish':
          return onPublish(
            this,
            {
              topic: packet.topic,
              qos: packet.qos,
              dup: packet.dup,
              retain: packet.retain,
              packetId: packet.messageId ?? 0,
              payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : packet.payload,
            },
            packet.properties,
            this.parsingPublish,
          );
        case 'puback':
          return onPuback(this, packet.messageId ?? 0);
        case 'pubrec':
          return onPubrec(this, packet.messageId ?? 0, packet.reasonCode ?? 0);
        case 'pubrel':
          return onPubrel(this, packet.messageId ?? 0);
        case 'pubcomp':
          return onPubcomp(this, packet.messageId ?? 0);
        case 'subscribe':
          return onSubscribe(this, packet);
        case 'unsubscribe':
          return onUnsubscribe(this, packet);
        case 'pingreq':
          this.write(PINGRESP);
          return;
        case 'disconnect':
          return onDisconnect(this, packet);
        case 'connect':
          // [MQTT-3.1.0-2]: a second CONNECT is a protocol violation
          throw new FerryError('FERRY_MQTT_PROTOCOL', 'a second CONNECT on one connection');
        case 'auth':
          return onAuth(this, packet);
        default:
          throw new FerryError('FERRY_MQTT_PROTOCOL', `${packet.cmd.toUpperCase()} is a server packet; a client may not send it`);
      }
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * Answers bad input or a failure (MQTT 5: DISCONNECT with a reason code) and closes this connection
   * only. No packet after the failure is acted on, and the close waits for the acknowledgements of
   * the packets before it that wait on the store: a 3.1.1 publish refused behind QoS 1 publishes the
   * store has taken must not cut off their PUBACKs, or the client, which sends again what it got no
   * PUBACK for, sends them twice.
   */
  override fail(err: unknown): void {
    if (this.transport.closed || (this.closing && this.core === undefined) || this.failing) return;
    this.failing = true;
    const message = err instanceof Error ? err.message : String(err);
    this.logFailure(err, 'closing an MQTT connection');
    const reasonString = message.length > 200 ? `${message.slice(0, 200)}...` : message;
    let answer: Packet | undefined;
    if (this.core !== undefined && this.version === 5 && !this.closing) {
      answer = { cmd: 'disconnect', reasonCode: mqttReasonOf(err).disconnect, properties: { reasonString } };
    } else if (this.core === undefined && this.auth?.phase === 'connect' && !this.closing) {
      // during the CONNECT's authentication exchange the answer is still a CONNACK
      answer = { cmd: 'connack', sessionPresent: false, reasonCode: mqttReasonOf(err).connack, properties: { reasonString } };
    }
    this.closing = true;
    const finish = (): void => {
      if (answer !== undefined && !this.transport.closed) this.writePacket(answer);
      this.shutdown();
    };
    const before = isStoreRefusal(err) ? null : this.durable;
    if (before === null) finish();
    else before.then(finish, finish);
  }

  override shutdown(): void {
    this.closing = true;
    this.end();
    release(this, true);
  }

  /** TransportHandler: the socket is gone. */
  closed(error?: Error): void {
    // a peer that resets or vanishes is routine: what happened, without a stack
    if (error !== undefined) {
      this.logger.debug({ event: 'mqtt.socket-error', code: (error as NodeJS.ErrnoException).code, message: error.message, remote: this.transport.remoteAddress }, 'MQTT socket closed with an error');
    }
    // a socket that closes without DISCONNECT is an abnormal end: the will goes out ([MQTT-3.1.2-8])
    release(this, true);
    this.onClosed(this);
  }
}
