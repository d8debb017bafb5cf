import mqttPacket from 'mqtt-packet';
import type { IConnectPacket, IDisconnectPacket, IPublishPacket, ISubscribePacket, IUnsubscribePacket, Packet } from 'mqtt-packet';
import { FerryError, isFerryError, type ErrorCode } from '../../errors.js';
import type { BrokerAccess, ConsumerHandle, CoreConnection, CoreSession, Delivery, DeliverySink, Logger, Message } from '../../core/index.js';
import type { TransportConnection } from '../../transport/index.js';
import { RETAIN_PROPERTY, encodeAck, encodeMessageProperties, encodePublish, messageQos, publishSize, publishToMessage, writePublish, type PublishFrame, type QoS } from './mapping.js';
import type { MqttOptions } from './options.js';
import { longTimeout, type SessionState, type SessionStates } from './session-state.js';
import { parseFilter, topicFromFerry, topicToFerry } from './topics.js';
import { PacketFramer, decodePublish, type KnownTopic, type PacketReceiver, type PublishView } from './framing.js';

type Version = 3 | 4 | 5;

/** MQTT 5 reason codes (section 2.4) used here. */
const Reason = {
  success: 0x00,
  noSubscriptionExisted: 0x11,
  unspecified: 0x80,
  malformed: 0x81,
  protocolError: 0x82,
  implementationSpecific: 0x83,
  unsupportedVersion: 0x84,
  clientIdNotValid: 0x85,
  serverUnavailable: 0x88,
  serverShuttingDown: 0x8b,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicFilterInvalid: 0x8f,
  topicNameInvalid: 0x90,
  packetIdNotFound: 0x92,
  receiveMaximumExceeded: 0x93,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  sharedNotSupported: 0x9e,
} as const;

/** CONNACK return codes of MQTT 3.1 and 3.1.1. */
const LegacyConnack = { accepted: 0, badVersion: 1, identifierRejected: 2, serverUnavailable: 3 } as const;

/** Sessions that never expire: MQTT 3.1.1 clean-session 0, or MQTT 5's 0xFFFFFFFF. */
const FOREVER = 0xffffffff;

const PINGRESP = Buffer.from([0xd0, 0]);
/** Bytes of PUBACKs batched per slab: 256 of them. */
const ACK_SLAB = 1024;

interface Subscription {
  /** The filter as the client sent it, `$share/...` included. */
  readonly key: string;
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly subscriptionId: number | undefined;
  readonly consumers: ConsumerHandle[];
  /** Names of its durable subscriptions in core, when the session is persistent. */
  readonly durableNames: string[];
}

interface Outbound {
  readonly consumer: ConsumerHandle;
  readonly tag: number;
  readonly qos: QoS;
  /** For a persistent session: the key its packet id is remembered under until acknowledged. */
  readonly resendKey: string | undefined;
}

interface Will {
  readonly init: Parameters<typeof publishToMessage>[0];
  readonly topic: string;
  readonly retain: boolean;
  readonly delay: number;
}

/**
 * A durable subscription's name carries what MQTT needs to restore it: its granted QoS and options,
 * which of the filter's Ferry patterns it is, and the filter: `1|a/b`, `2nr7p|sensors/#`.
 */
function durableName(filter: string, qos: QoS, noLocal: boolean, rap: boolean, subscriptionId: number | undefined, part: number): string {
  return `${qos}${noLocal ? 'n' : ''}${rap ? 'r' : ''}${subscriptionId ?? ''}${part === 1 ? 'p' : ''}|${filter}`;
}

function parseDurableName(name: string): { filter: string; qos: QoS; noLocal: boolean; rap: boolean; subscriptionId: number | undefined } | undefined {
  const bar = name.indexOf('|');
  const m = /^([012])(n?)(r?)(\d*)(p?)$/.exec(name.slice(0, bar));
  if (bar < 0 || m === null) return undefined;
  return { filter: name.slice(bar + 1), qos: Number(m[1]) as QoS, noLocal: m[2] === 'n', rap: m[3] === 'r', subscriptionId: m[4] === '' ? undefined : Number(m[4]) };
}

/** A body view that pins a much larger socket chunk is copied, so a queued small message does not hold the whole chunk. */
function ownBody(body: Buffer): Buffer {
  return body.length * 2 < body.buffer.byteLength ? Buffer.from(body) : body;
}

let nextAssignedId = 1;

/** The kind under which core keeps, per client id, the packet ids of the PUBRELs a session owes. */
const PUBREL_OWED = 'mqtt-pubrel';

/** Never written to: see MqttSession.subscriptions and .outbound. */
const NO_SUBSCRIPTIONS = new Map<string, Subscription>();
const NO_OUTBOUND = new Map<number, Outbound>();

/**
 * One MQTT connection: packets to core calls, deliveries to PUBLISH packets. Holds only what the
 * wire needs: packet ids in flight each way, topic aliases, the will, the keep-alive timer.
 */
export class MqttSession implements PacketReceiver {
  /**
   * mqtt-packet's parser, for the packets not decoded on the message path. Made when one comes and
   * let go after a control packet (CONNECT, SUBSCRIBE, ...): a parser and its stream are about a
   * fifth of an idle connection's memory.
   */
  private parser: ReturnType<typeof mqttPacket.parser> | undefined;
  private readonly framer: PacketFramer;
  private version: Version = 4;
  private core: CoreConnection | undefined;
  /** Packets that came after CONNECT while the broker was still deciding on it. */
  private held: { readonly packet: Buffer; readonly bodyStart: number }[] | undefined;
  private session: CoreSession | undefined;
  private state: SessionState | undefined;
  private clientId = '';
  private sessionExpiry = 0;
  private will: Will | undefined;
  // shared empty maps until the first subscription and the first QoS 1/2 delivery: an idle
  // connection should cost little; every `set` below replaces them first
  private subscriptions: Map<string, Subscription> = NO_SUBSCRIPTIONS;
  private outbound: Map<number, Outbound> = NO_OUTBOUND;
  private nextPacketId = 1;
  /** QoS 1 and 2 messages this client lets the broker have in flight to it. */
  private sendWindow: number;
  private clientMaxPacketSize = Number.POSITIVE_INFINITY;
  private clientAliasMaximum = 0;
  /** Made when an MQTT 5 client uses topic aliases. */
  private outboundAliases: Map<string, number> | undefined;
  private inboundAliases: Map<number, string> | undefined;
  /** Inbound QoS 1 and 2 publishes not yet acknowledged. */
  private inboundPending = 0;
  /** The latest store sync an acknowledgement must wait for; syncs complete in order. */
  private durable: Promise<void> | null = null;
  private connectTimer: NodeJS.Timeout | undefined;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private lastReceived = Date.now();
  private closing = false;
  private evicted = false;
  private readonly v5Key: string;
  /**
   * PUBACKs of the current read, written as one buffer when the read is done (a chunk of 1 KiB
   * publishes holds about sixty); the slab's unused end serves the next read.
   */
  private acks: Buffer | undefined;
  private acksStart = 0;
  private acksEnd = 0;
  /** Consumers whose deliveries this read acknowledged, to dispatch to once it is done; all of them when the window was full. */
  private readonly toWake: ConsumerHandle[] = [];
  private wakeAll = false;
  /** The last topic name published to, and its bytes: the next PUBLISH to it is not decoded again. */
  private knownTopic: KnownTopic | undefined;
  /**
   * The last topic each way, mapped: a client mostly publishes to, and hears from, one topic at a
   * time, and the mapping and checks of a topic were a tenth of the allocations per message.
   */
  private lastInboundTopic: string | undefined;
  private lastInboundFerryTopic = '';
  private lastOutboundName: string | undefined;
  private lastOutboundTopic: { text: string; bytes: Buffer } | undefined;

  constructor(
    private readonly transport: TransportConnection,
    private readonly broker: BrokerAccess,
    private readonly options: MqttOptions,
    private readonly states: SessionStates,
    private readonly logger: Logger,
    private readonly counters: { received: number; sent: number },
  ) {
    this.sendWindow = options.maxInflight;
    this.v5Key = 'mqtt5';
    // the session is its framer's receiver, so an idle connection carries no closures for it
    this.framer = new PacketFramer(options.maxPacketSize, this);
    this.connectTimer = setTimeout(() => {
      this.fail(new FerryError('FERRY_MQTT_CONNECT_TIMEOUT', `no CONNECT packet within ${options.connectTimeout} ms`), undefined);
    }, options.connectTimeout);
    transport.setHandler({
      data: (chunk) => this.onData(chunk),
      closed: (error) => this.closed(error),
    });
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    this.lastReceived = Date.now();
    this.framer.push(chunk);
    this.flushAcks();
    if (this.wakeAll || this.toWake.length > 0) this.wakeAfterRead();
  }

  /** PacketReceiver: one whole packet. */
  packet(buf: Buffer, start: number, bodyStart: number, end: number): boolean {
    if (this.held !== undefined) {
      // the broker is still deciding on CONNECT: later packets wait for the CONNACK, as copies
      this.held.push({ packet: Buffer.from(buf.subarray(start, end)), bodyStart: bodyStart - start });
      return true;
    }
    if (this.core !== undefined) {
      try {
        if (this.onMessagePathPacket(buf, start, bodyStart, end)) return !this.closing;
      } catch (err) {
        this.fail(err, isFerryError(err, 'FERRY_MQTT_MALFORMED') ? Reason.malformed : Reason.protocolError);
        return false;
      }
    }
    // mqtt-packet emits the packet (or its error) before parse returns
    const parser = (this.parser ??= this.newParser());
    parser.parse(buf.subarray(start, end));
    const type = buf[start]! >> 4;
    if (type < 3 || type > 7) this.parser = undefined;
    return !this.closing;
  }

  private newParser(): ReturnType<typeof mqttPacket.parser> {
    // the version CONNECT chose shapes how later packets parse (MQTT 5 properties, reason codes)
    const parser = mqttPacket.parser(this.core === undefined ? {} : { protocolVersion: this.version });
    parser.on('packet', (packet: Packet) => this.onPacket(packet));
    parser.on('error', (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      if (this.core === undefined && /protocol version/i.test(message)) {
        // [MQTT-3.1.2-2]: an unsupported level gets CONNACK 0x01 (3.1.1's layout, which any version can read)
        this.write(Buffer.from([0x20, 2, 0, LegacyConnack.badVersion]));
      }
      this.fail(new FerryError('FERRY_MQTT_MALFORMED', `malformed packet: ${message}`), Reason.malformed);
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
      if (first === 0x40) this.onPuback(id);
      else if (first === 0x50) this.onPubrec(id, 0);
      else if (first === 0x62) this.onPubrel(id);
      else this.onPubcomp(id);
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
    this.onPublish(publish, undefined);
    return true;
  }

  /** PacketReceiver: a fixed header that does not parse. */
  malformed(err: FerryError): void {
    this.fail(err, Reason.malformed);
  }

  /** PacketReceiver: a packet over mqtt.maxPacketSize, refused from its fixed header. */
  tooLarge(size: number): void {
    this.fail(new FerryError('FERRY_MQTT_PACKET_TOO_LARGE', `a packet of ${size} bytes is over the limit of ${this.options.maxPacketSize} (mqtt.maxPacketSize)`), Reason.packetTooLarge);
  }

  private onPacket(packet: Packet): void {
    if (this.closing) return;
    try {
      if (this.core === undefined) {
        // [MQTT-3.1.0-1]: the first packet must be CONNECT
        if (packet.cmd !== 'connect') throw new FerryError('FERRY_MQTT_NOT_CONNECTED', `${packet.cmd.toUpperCase()} before CONNECT; the first packet must be CONNECT`);
        this.connect(packet);
        return;
      }
      this.counters.received++;
      switch (packet.cmd) {
        case 'publish':
          return this.onPublish(
            {
              topic: packet.topic,
              qos: packet.qos,
              dup: packet.dup,
              retain: packet.retain,
              packetId: packet.messageId ?? 0,
              payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : packet.payload,
            },
            packet.properties,
          );
        case 'puback':
          return this.onPuback(packet.messageId ?? 0);
        case 'pubrec':
          return this.onPubrec(packet.messageId ?? 0, packet.reasonCode ?? 0);
        case 'pubrel':
          return this.onPubrel(packet.messageId ?? 0);
        case 'pubcomp':
          return this.onPubcomp(packet.messageId ?? 0);
        case 'subscribe':
          return this.onSubscribe(packet);
        case 'unsubscribe':
          return this.onUnsubscribe(packet);
        case 'pingreq':
          this.write(PINGRESP);
          return;
        case 'disconnect':
          return this.onDisconnect(packet);
        case 'connect':
          // [MQTT-3.1.0-2]: a second CONNECT is a protocol violation
          throw new FerryError('FERRY_MQTT_PROTOCOL', 'a second CONNECT on one connection');
        case 'auth':
          throw new FerryError('FERRY_MQTT_PROTOCOL', 'AUTH without an authentication method in CONNECT');
        default:
          throw new FerryError('FERRY_MQTT_PROTOCOL', `${packet.cmd.toUpperCase()} is a server packet; a client may not send it`);
      }
    } catch (err) {
      this.fail(err, Reason.protocolError);
    }
  }

  // CONNECT

  private connect(packet: IConnectPacket): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    const version = (packet.protocolVersion ?? 4) as Version;
    this.version = version;
    const v5 = version === 5;
    const props = packet.properties ?? {};
    if (props.authenticationMethod !== undefined) {
      this.connack(false, 0x8c, {});
      return this.shutdown();
    }
    const clean = packet.clean !== false;
    let clientId = packet.clientId ?? '';
    let assigned: string | undefined;
    if (clientId === '') {
      // [MQTT-3.1.3-8]: 3.1.1 assigns an id only to a clean session
      if (!v5 && !clean) {
        this.connack(false, LegacyConnack.identifierRejected, {});
        return this.shutdown();
      }
      clientId = assigned = `ferry-${process.pid.toString(36)}-${Date.now().toString(36)}-${nextAssignedId++}`;
    }
    this.clientId = clientId;
    const requestedExpiry = v5 ? (props.sessionExpiryInterval ?? 0) : clean ? 0 : FOREVER;
    this.sessionExpiry = Math.min(requestedExpiry, this.options.maxSessionExpiry);
    if (v5) {
      if (props.receiveMaximum !== undefined) this.sendWindow = props.receiveMaximum;
      if (props.maximumPacketSize !== undefined) this.clientMaxPacketSize = props.maximumPacketSize;
      this.clientAliasMaximum = props.topicAliasMaximum ?? 0;
    }
    this.held = [];
    this.transport.pause();
    this.broker
      .connect({
        protocol: 'mqtt',
        transport: { remoteAddress: this.transport.remoteAddress, peerCertificate: this.transport.peerCertificate },
        credentials: { username: packet.username, password: packet.password },
        clientId,
        takeOver: true,
      })
      .then(
        (core) => {
          if (this.closing || this.transport.closed) {
            this.held = undefined;
            core.close();
            return;
          }
          try {
            this.connected(core, packet, clean, assigned, requestedExpiry);
          } catch (err) {
            this.fail(err, Reason.protocolError);
          }
          this.replayHeld();
        },
        (err: unknown) => {
          this.held = undefined;
          this.connack(false, v5 ? Reason.serverUnavailable : LegacyConnack.serverUnavailable, {});
          this.logger.debug({ event: 'mqtt.connect-refused', err }, 'MQTT CONNECT refused');
          this.shutdown();
        },
      );
  }

  /** Handles what came while CONNECT was being decided, in order, and reads on. */
  private replayHeld(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const { packet, bodyStart } of held) {
      if (this.closing) return;
      this.packet(packet, 0, bodyStart, packet.length);
    }
    this.flushAcks();
    if (this.wakeAll || this.toWake.length > 0) this.wakeAfterRead();
    this.transport.resume();
  }

  private connected(core: CoreConnection, packet: IConnectPacket, clean: boolean, assigned: string | undefined, requestedExpiry: number): void {
    const clientId = this.clientId;
    const version = this.version;
    const v5 = version === 5;
    this.core = core;
    core.onEvicted = () => this.onEvicted();
    this.session = core.createSession();

    const existing = this.states.get(clientId);
    existing?.cancelTimers();
    const durables = core.durableSubscriptions();
    let sessionPresent = false;
    if (clean) {
      // [MQTT-3.1.2-6]: a clean session (clean start) discards the one before
      for (const d of durables) this.dropDurable(d.name);
      core.forgetSessionIds([PUBREL_OWED]);
      if (existing !== undefined) this.states.delete(existing);
    } else sessionPresent = existing !== undefined || durables.length > 0 || core.sessionIds(PUBREL_OWED).length > 0;
    const state = this.states.open(clientId);
    state.connected = true;
    state.connectionStarted();
    this.state = state;

    if (packet.will !== undefined) {
      const will = packet.will;
      const willProps = will.properties ?? {};
      this.will = {
        init: { qos: will.qos ?? 0, payload: will.payload, ...(willProps === undefined ? {} : { properties: willProps }) },
        topic: will.topic,
        retain: will.retain === true,
        delay: v5 ? (willProps.willDelayInterval ?? 0) : 0,
      };
      // the will's topic must be publishable; refuse it now rather than when the client is gone
      topicToFerry(will.topic);
    }

    const keepAlive = packet.keepalive ?? 0;
    let serverKeepAlive: number | undefined;
    const max = this.options.maxKeepAlive;
    if (max > 0 && (keepAlive === 0 || keepAlive > max)) serverKeepAlive = max;
    const effectiveKeepAlive = v5 && serverKeepAlive !== undefined ? serverKeepAlive : keepAlive;

    const connackProps: NonNullable<mqttPacket.IConnackPacket['properties']> = {
      receiveMaximum: this.options.receiveMaximum,
      maximumPacketSize: this.options.maxPacketSize,
      topicAliasMaximum: this.options.topicAliasMaximum,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
    };
    if (assigned !== undefined) connackProps.assignedClientIdentifier = assigned;
    if (serverKeepAlive !== undefined) connackProps.serverKeepAlive = serverKeepAlive;
    if (v5 && this.sessionExpiry !== requestedExpiry) connackProps.sessionExpiryInterval = this.sessionExpiry;
    this.connack(sessionPresent, 0, connackProps);
    if (sessionPresent) this.resume(durables.map((d) => d.name), state);
    if (effectiveKeepAlive > 0) this.startKeepAlive(effectiveKeepAlive);
    this.logger.debug({ event: 'mqtt.connected', connection: core.id, clientId, version, clean, remote: this.transport.remoteAddress }, 'MQTT client connected');
  }

  private connack(sessionPresent: boolean, code: number, properties: NonNullable<mqttPacket.IConnackPacket['properties']>): void {
    const packet: mqttPacket.IConnackPacket = { cmd: 'connack', sessionPresent };
    if (this.version === 5) {
      packet.reasonCode = code;
      packet.properties = properties;
    } else packet.returnCode = code;
    this.writePacket(packet);
  }

  /** Reattaches a persistent session's durable subscriptions and resends its PUBRELs ([MQTT-4.4.0-1]). */
  private resume(names: readonly string[], state: SessionState): void {
    for (const name of names) {
      const parsed = parseDurableName(name);
      if (parsed === undefined) continue;
      let subscription = this.subscriptions.get(parsed.filter);
      if (subscription === undefined) {
        subscription = { key: parsed.filter, qos: parsed.qos, noLocal: parsed.noLocal, retainAsPublished: parsed.rap, subscriptionId: parsed.subscriptionId, consumers: [], durableNames: [] };
        this.ownSubscriptions().set(parsed.filter, subscription);
      }
      const filter = parseFilter(parsed.filter);
      const part = name.slice(0, name.indexOf('|')).endsWith('p') ? 1 : 0;
      const pattern = filter.patterns[part];
      if (pattern === undefined) continue;
      this.openConsumer(subscription, pattern, name, undefined, 'none');
    }
    // after a broker restart only the journal knows which PUBRELs are owed
    for (const id of this.requireCore().sessionIds(PUBREL_OWED)) state.awaitingComplete.add(Number(id));
    for (const id of state.awaitingComplete) this.write(encodeAck('pubrel', id, 0, this.version === 5));
  }

  private startKeepAlive(seconds: number): void {
    // [MQTT-3.1.2-24]: one and a half keep-alive periods of silence close the connection
    const limit = seconds * 1000 * this.options.keepAliveGrace;
    this.keepAliveTimer = setInterval(() => {
      if (Date.now() - this.lastReceived > limit) {
        this.fail(new FerryError('FERRY_MQTT_KEEPALIVE_TIMEOUT', `nothing received for more than ${Math.round(limit)} ms (keep-alive ${seconds} s)`), Reason.keepAliveTimeout);
      }
    }, Math.max(50, Math.floor(limit / 4)));
  }

  // PUBLISH from the client

  private onPublish(packet: PublishView, properties: IPublishPacket['properties']): void {
    const v5 = this.version === 5;
    const id = packet.packetId;
    let topic = packet.topic;
    const alias = properties?.topicAlias;
    if (alias !== undefined) {
      if (alias === 0 || alias > this.options.topicAliasMaximum) {
        throw Object.assign(new FerryError('FERRY_MQTT_PROTOCOL', `topic alias ${alias} is outside 1..${this.options.topicAliasMaximum}`), { reason: Reason.topicAliasInvalid });
      }
      if (topic.length > 0) (this.inboundAliases ??= new Map()).set(alias, topic);
      else {
        const known = this.inboundAliases?.get(alias);
        if (known === undefined) throw new FerryError('FERRY_MQTT_PROTOCOL', `topic alias ${alias} was never set on this connection`);
        topic = known;
      }
    }
    // MQTT 5 (3.3.2.1): a zero-length topic name is only for a topic alias; 3.1.1 refuses it as an invalid name below
    if (topic.length === 0 && v5) throw new FerryError('FERRY_MQTT_PROTOCOL', 'a PUBLISH with an empty topic name and no topic alias');
    // a persistent session's QoS 2 packet ids go into the journal with their message, so that a
    // resend after a broker restart is still known for one
    const producerId = packet.qos === 2 && this.sessionExpiry > 0 ? String(id) : undefined;
    if (packet.qos === 2 && (this.state!.receivedQos2.has(id) || (producerId !== undefined && this.core!.holdsProducerId(producerId)))) {
      // a resend of a QoS 2 publish already taken: answer again, deliver nothing ([MQTT-4.3.3-9])
      this.write(encodeAck('pubrec', id, 0, v5));
      return;
    }
    if (packet.qos > 0 && ++this.inboundPending > this.options.receiveMaximum && v5) {
      throw Object.assign(new FerryError('FERRY_MQTT_PROTOCOL', `more than ${this.options.receiveMaximum} unacknowledged publishes (Receive Maximum)`), { reason: Reason.receiveMaximumExceeded });
    }
    let ferryTopic = this.lastInboundFerryTopic;
    if (topic !== this.lastInboundTopic) {
      try {
        ferryTopic = topicToFerry(topic);
      } catch (err) {
        throw Object.assign(err as Error, { reason: Reason.topicNameInvalid });
      }
      this.lastInboundTopic = topic;
      this.lastInboundFerryTopic = ferryTopic;
    }
    const payload = ownBody(packet.payload);
    let durable: Promise<void> | null;
    try {
      const init = publishToMessage(properties === undefined ? packet : { qos: packet.qos, payload, properties }, ferryTopic, payload, this.lastReceived, packet.retain);
      durable = this.requireSession().send(init, undefined, packet.retain || producerId !== undefined ? { retain: packet.retain, producerId } : undefined);
    } catch (err) {
      if (packet.qos === 0 || !v5) throw err;
      // MQTT 5 refuses one message and keeps the connection
      this.inboundPending--;
      const reason = isFerryError(err, 'FERRY_DESTINATION_INVALID') ? Reason.topicNameInvalid : Reason.unspecified;
      this.write(encodeAck(packet.qos === 1 ? 'puback' : 'pubrec', id, reason, true));
      return;
    }
    if (packet.qos === 0) {
      this.track(durable);
      return;
    }
    if (packet.qos === 2) this.state!.receivedQos2.add(id);
    if (packet.qos === 1 && durable === null && this.durable === null) {
      this.inboundPending--;
      this.queuePuback(id);
      return;
    }
    this.afterDurable(durable, () => {
      this.inboundPending--;
      this.write(encodeAck(packet.qos === 1 ? 'puback' : 'pubrec', id, 0, v5));
    });
  }

  /** A PUBACK (success) written with the others of this read; it keeps its place before any other write. */
  private queuePuback(id: number): void {
    let acks = this.acks;
    if (acks === undefined || this.acksEnd + 4 > acks.length) {
      this.flushAcks();
      this.acks = acks = Buffer.allocUnsafe(ACK_SLAB);
      this.acksStart = this.acksEnd = 0;
    }
    const at = this.acksEnd;
    acks[at] = 0x40;
    acks[at + 1] = 2;
    acks[at + 2] = id >> 8;
    acks[at + 3] = id & 0xff;
    this.acksEnd = at + 4;
  }

  private flushAcks(): void {
    if (this.acksEnd === this.acksStart) return;
    this.transport.write(this.acks!.subarray(this.acksStart, this.acksEnd));
    this.acksStart = this.acksEnd;
  }

  private write(data: Buffer): void {
    this.flushAcks();
    this.transport.write(data);
  }

  private end(): void {
    this.flushAcks();
    this.transport.end();
  }

  private track(durable: Promise<void> | null): void {
    if (durable === null) return;
    this.durable = durable;
    durable.then(
      () => {
        if (this.durable === durable) this.durable = null;
      },
      (err: unknown) => this.fail(err, Reason.unspecified),
    );
  }

  /** Runs `then` once `durable` and every earlier sync of this connection are on disk, so acknowledgements keep their order. */
  private afterDurable(durable: Promise<void> | null, then: () => void): void {
    this.track(durable);
    const wait = this.durable;
    if (wait === null) then();
    else
      wait.then(
        () => {
          if (!this.transport.closed) then();
        },
        () => {},
      );
  }

  private onPubrel(id: number): void {
    let known = this.state!.receivedQos2.delete(id);
    if (this.sessionExpiry > 0 && this.core !== undefined) known = this.core.forgetProducerId(String(id)) || known;
    const write = (): void => this.write(encodeAck('pubcomp', id, known ? 0 : Reason.packetIdNotFound, this.version === 5));
    this.afterDurable(null, write);
  }

  // deliveries to the client

  private onPuback(id: number): void {
    const out = this.outbound.get(id);
    if (out === undefined || out.qos !== 1) return;
    this.outbound.delete(id);
    this.settle(out);
  }

  private onPubrec(id: number, reasonCode: number): void {
    const v5 = this.version === 5;
    const out = this.outbound.get(id);
    if (out === undefined || out.qos !== 2) {
      // a PUBREC for an exchange resumed from an earlier connection already has its PUBREL state
      if (!this.state!.awaitingComplete.has(id)) {
        this.write(encodeAck('pubrel', id, Reason.packetIdNotFound, v5));
        return;
      }
      this.write(encodeAck('pubrel', id, 0, v5));
      return;
    }
    this.outbound.delete(id);
    if (reasonCode < 0x80 && this.sessionExpiry > 0) {
      // written before the acknowledgement that lets core forget the message: a crash between the
      // two brings the message back, rather than losing the PUBREL a client delivers it on
      this.requireCore().rememberSessionId(PUBREL_OWED, String(id));
    }
    // the client owns the message from here: core forgets it, the session remembers the packet id
    this.settle(out);
    if (reasonCode >= 0x80) return;
    this.state!.awaitingComplete.add(id);
    this.write(encodeAck('pubrel', id, 0, v5));
  }

  private onPubcomp(id: number): void {
    if (this.sessionExpiry > 0) this.core?.forgetSessionId(PUBREL_OWED, String(id));
    if (this.state!.awaitingComplete.delete(id)) this.wakeConsumers();
  }

  /** Acknowledges in core; what that frees is dispatched once the read is done (`wakeAfterRead`). */
  private settle(out: Outbound): void {
    if (out.resendKey !== undefined) this.state?.forgetSent(out.resendKey);
    const wasFull = this.inFlightOut() + 1 >= this.sendWindow;
    if (!out.consumer.isClosed) {
      try {
        out.consumer.acknowledgeOnly(out.tag);
      } catch (err) {
        if (!isFerryError(err, 'FERRY_DELIVERY_NOT_FOUND') && !isFerryError(err, 'FERRY_CONSUMER_NOT_FOUND')) throw err;
      }
    }
    if (wasFull) this.wakeAll = true;
    else if (this.toWake[this.toWake.length - 1] !== out.consumer) this.toWake.push(out.consumer);
  }

  private wakeAfterRead(): void {
    if (this.wakeAll) {
      this.wakeAll = false;
      this.toWake.length = 0;
      this.wakeConsumers();
      return;
    }
    const toWake = this.toWake;
    for (let i = 0; i < toWake.length; i++) {
      const consumer = toWake[i]!;
      if (!consumer.isClosed) consumer.wake();
    }
    toWake.length = 0;
  }

  private inFlightOut(): number {
    return this.outbound.size + (this.state?.awaitingCompleteCount ?? 0);
  }

  private wakeConsumers(): void {
    for (const subscription of this.subscriptions.values()) for (const consumer of subscription.consumers) consumer.wake();
  }

  /** The id a redelivery was sent under before, when it is free on this connection; a new one otherwise. */
  private packetIdFor(resendKey: string | undefined, redelivered: boolean): number {
    if (resendKey !== undefined && redelivered) {
      const previous = this.state?.sentBeforeAs(resendKey);
      if (previous !== undefined && !this.packetIdInUse(previous)) return previous;
    }
    return this.allocatePacketId();
  }

  /** In flight to the client, or awaiting its PUBCOMP. */
  private packetIdInUse(id: number): boolean {
    return this.outbound.has(id) || (this.state !== undefined && this.state.awaitingCompleteCount > 0 && this.state.awaitingComplete.has(id));
  }

  private allocatePacketId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 65535 ? 1 : id + 1;
      if (!this.packetIdInUse(id)) return id;
    }
    throw new FerryError('FERRY_MQTT_PROTOCOL', 'no packet identifier free');
  }

  private sinkFor(subscription: Subscription, consumer: () => ConsumerHandle): DeliverySink {
    const sink: DeliverySink = {
      deliver: (delivery) => this.deliver(subscription, consumer(), delivery),
      isWritable: () => this.transport.isWritable(),
      onWritable: (resume) => this.transport.onWritable(resume),
    };
    // the client's Receive Maximum counts every QoS 1 and 2 message in flight on the connection
    if (subscription.qos > 0) sink.hasCredit = () => this.inFlightOut() < this.sendWindow;
    return sink;
  }

  private deliver(subscription: Subscription, consumer: ConsumerHandle, delivery: Delivery): void {
    const message = delivery.message;
    const qos = Math.min(subscription.qos, messageQos(message)) as QoS;
    const v5 = this.version === 5;
    const retain = delivery.retained === true || (v5 && subscription.retainAsPublished && message.properties.size > 0 && message.properties.get(RETAIN_PROPERTY) === true);
    const topicName = this.topicOf(message);
    let topic = topicName.bytes;
    let topicAlias: number | undefined;
    if (v5 && this.clientAliasMaximum > 0) {
      const aliases = (this.outboundAliases ??= new Map());
      const known = aliases.get(topicName.text);
      if (known !== undefined) {
        topicAlias = known;
        topic = Buffer.alloc(0);
      } else if (aliases.size < this.clientAliasMaximum) {
        topicAlias = aliases.size + 1;
        aliases.set(topicName.text, topicAlias);
      }
    }
    let expiry: number | undefined;
    if (v5 && message.expiration !== 0) expiry = Math.max(0, Math.ceil((message.expiration - Date.now()) / 1000));
    // [MQTT-4.4.0-1]: a persistent session resends an unacknowledged PUBLISH under its original packet id
    const resendKey = qos > 0 && this.sessionExpiry > 0 ? `${subscription.key}\u0000${message.id}` : undefined;
    const packetId = qos === 0 ? 0 : this.packetIdFor(resendKey, delivery.redelivered);
    const frame: PublishFrame = {
      topic,
      qos,
      dup: qos > 0 && delivery.redelivered,
      retain,
      packetId,
      properties: v5 ? this.propertiesOf(message) : undefined,
      expiry,
      topicAlias,
      subscriptionIds: v5 && subscription.subscriptionId !== undefined ? [subscription.subscriptionId] : undefined,
      payload: message.body,
    };
    const autoAck = consumer.ackMode === 'auto';
    const size = publishSize(frame);
    // [MQTT-3.1.2-25]: a packet over the client's Maximum Packet Size is dropped as if delivered
    if (v5 && size > this.clientMaxPacketSize) {
      if (topicAlias !== undefined && topic.length > 0) this.outboundAliases?.delete(topicName.text);
      if (!autoAck) consumer.acknowledge(delivery.tag);
      return;
    }
    this.counters.sent++;
    this.flushAcks();
    const room = this.transport.reserve?.(size);
    if (room === undefined) this.transport.write(encodePublish(frame));
    else writePublish(frame, room);
    if (qos === 0) {
      if (!autoAck) consumer.acknowledge(delivery.tag);
      return;
    }
    if (this.outbound === NO_OUTBOUND) this.outbound = new Map();
    this.outbound.set(packetId, { consumer, tag: delivery.tag, qos, resendKey });
    if (resendKey !== undefined) this.state!.rememberSent(resendKey, packetId);
  }

  private topicOf(message: Message): { text: string; bytes: Buffer } {
    const name = message.destination.name;
    if (name === this.lastOutboundName) return this.lastOutboundTopic!;
    const topic = this.sharedTopicOf(message);
    if (message.destination.temporary !== true) {
      this.lastOutboundName = name;
      this.lastOutboundTopic = topic;
    }
    return topic;
  }

  /** The MQTT topic of a message, encoded once for all the sessions it goes to. */
  private sharedTopicOf(message: Message): { text: string; bytes: Buffer } {
    let encodings = message.encodings;
    const cached = encodings?.get('mqtt.topic') as { text: string; bytes: Buffer } | undefined;
    if (cached !== undefined) return cached;
    const text = topicFromFerry(message.destination.name);
    const topic = { text, bytes: Buffer.from(text, 'utf8') };
    if (message.destination.temporary === true) return topic;
    if (encodings === undefined) message.encodings = encodings = new Map();
    encodings.set('mqtt.topic', topic);
    return topic;
  }

  private propertiesOf(message: Message): Buffer {
    let encodings = message.encodings;
    const cached = encodings?.get(this.v5Key) as Buffer | undefined;
    if (cached !== undefined) return cached;
    const props = encodeMessageProperties(message);
    if (encodings === undefined) message.encodings = encodings = new Map();
    encodings.set(this.v5Key, props);
    return props;
  }

  // SUBSCRIBE and UNSUBSCRIBE

  private onSubscribe(packet: ISubscribePacket): void {
    const subscriptionId = packet.properties?.subscriptionIdentifier;
    const granted: number[] = [];
    for (const request of packet.subscriptions) {
      granted.push(this.subscribeOne(request, subscriptionId));
    }
    this.writePacket({ cmd: 'suback', messageId: packet.messageId ?? 0, granted });
  }

  private subscribeOne(request: mqttPacket.ISubscription, subscriptionId: number | undefined): number {
    const v5 = this.version === 5;
    const failure = (reason: number): number => (v5 ? reason : 0x80);
    let filter;
    try {
      filter = parseFilter(request.topic);
    } catch {
      return failure(Reason.topicFilterInvalid);
    }
    const noLocal = v5 && request.nl === true;
    // [MQTT-3.8.3-4]: no-local on a shared subscription is a protocol error
    if (noLocal && filter.shareName !== undefined) throw new FerryError('FERRY_MQTT_PROTOCOL', 'no-local is not allowed on a shared subscription');
    const qos = Math.min(request.qos, 2) as QoS;
    const rap = v5 && request.rap === true;
    const existing = this.subscriptions.get(request.topic);
    if (existing === undefined && this.subscriptions.size >= this.options.maxSubscriptions) return failure(Reason.quotaExceeded);
    const retainHandling = v5 ? (request.rh ?? 0) : 0;
    const handRetained = retainHandling === 2 || (retainHandling === 1 && existing !== undefined) ? 'none' : 'all';
    // [MQTT-3.8.4-3]: a subscription to the same filter replaces the old one
    if (existing !== undefined) this.closeSubscription(existing, true);
    const persistent = this.sessionExpiry > 0 && filter.shareName === undefined;
    const subscription: Subscription = { key: request.topic, qos, noLocal, retainAsPublished: rap, subscriptionId, consumers: [], durableNames: [] };
    try {
      filter.patterns.forEach((pattern, part) => {
        const name = persistent ? durableName(request.topic, qos, noLocal, rap, subscriptionId, part) : undefined;
        this.openConsumer(subscription, pattern, name, filter.shareName, filter.shareName === undefined ? handRetained : 'none');
      });
    } catch (err) {
      this.closeSubscription(subscription, true);
      this.logger.debug({ event: 'mqtt.subscribe-refused', filter: request.topic, err }, 'MQTT subscription refused');
      return failure(Reason.unspecified);
    }
    this.ownSubscriptions().set(request.topic, subscription);
    return qos;
  }

  private openConsumer(subscription: Subscription, pattern: string, name: string | undefined, shareName: string | undefined, retained: 'all' | 'none'): void {
    let consumer: ConsumerHandle | undefined;
    consumer = this.requireSession().subscribe({
      destination: { kind: 'topic', name: pattern },
      sink: this.sinkFor(subscription, () => consumer!),
      prefetch: Math.max(1, this.sendWindow),
      ackMode: subscription.qos === 0 ? 'auto' : 'individual',
      noLocal: subscription.noLocal,
      durable: name === undefined ? undefined : { name },
      shareName,
      retainedMessages: retained,
    });
    subscription.consumers.push(consumer);
    if (name !== undefined) subscription.durableNames.push(name);
  }

  /** Closes a subscription's consumers; `drop` also removes its durable subscriptions from core. */
  private closeSubscription(subscription: Subscription, drop: boolean): void {
    for (const consumer of subscription.consumers) consumer.close();
    for (const [id, out] of this.outbound) if (subscription.consumers.includes(out.consumer)) this.outbound.delete(id);
    if (drop) for (const name of subscription.durableNames) this.dropDurable(name);
    if (this.subscriptions.get(subscription.key) === subscription) this.subscriptions.delete(subscription.key);
  }

  private dropDurable(name: string): void {
    try {
      this.requireCore().deleteDurableSubscription(name);
    } catch (err) {
      if (!isFerryError(err, 'FERRY_CONSUMER_NOT_FOUND')) throw err;
    }
  }

  private onUnsubscribe(packet: IUnsubscribePacket): void {
    const codes: number[] = [];
    for (const filter of packet.unsubscriptions) {
      const subscription = this.subscriptions.get(filter);
      if (subscription === undefined) codes.push(Reason.noSubscriptionExisted);
      else {
        this.closeSubscription(subscription, true);
        codes.push(Reason.success);
      }
    }
    this.writePacket({ cmd: 'unsuback', messageId: packet.messageId ?? 0, granted: this.version === 5 ? codes : [] });
  }

  // the end of a connection

  private onDisconnect(packet: IDisconnectPacket): void {
    const requested = packet.properties?.sessionExpiryInterval;
    if (requested !== undefined) {
      // [MQTT-3.14.2-2]: a session that was to end with the connection cannot be kept at DISCONNECT
      if (this.sessionExpiry === 0 && requested !== 0) throw new FerryError('FERRY_MQTT_PROTOCOL', 'DISCONNECT sets a session expiry when CONNECT had none');
      this.sessionExpiry = Math.min(requested, this.options.maxSessionExpiry);
    }
    // [MQTT-3.14.4-3]: a normal DISCONNECT discards the will; 0x04 asks for it to be published
    if (packet.reasonCode !== 0x04) this.will = undefined;
    this.closing = true;
    const finish = (): void => {
      this.end();
      this.release(this.will !== undefined);
    };
    if (this.durable === null) finish();
    else this.durable.then(finish, finish);
  }

  /** A newer connection with this client id took over: tell this client (MQTT 5) and go. */
  private onEvicted(): void {
    this.evicted = true;
    if (this.version === 5) this.writePacket({ cmd: 'disconnect', reasonCode: Reason.sessionTakenOver });
    this.closing = true;
    this.end();
    this.release(true);
  }

  /** Answers bad input or a failure (MQTT 5: DISCONNECT with a reason code) and closes this connection only. */
  private fail(err: unknown, reason: number | undefined): void {
    if (this.transport.closed || (this.closing && this.core === undefined)) return;
    const code: ErrorCode | undefined = isFerryError(err) ? err.code : undefined;
    const message = err instanceof Error ? err.message : String(err);
    const specific = (err as { reason?: number } | null)?.reason;
    if (code === undefined) this.logger.error({ event: 'mqtt.internal-error', err }, 'unexpected error in an MQTT session');
    else this.logger.debug({ event: 'mqtt.error', code, message, remote: this.transport.remoteAddress }, 'closing an MQTT connection');
    if (this.core !== undefined && this.version === 5 && reason !== undefined && !this.closing) {
      this.writePacket({ cmd: 'disconnect', reasonCode: specific ?? reason, properties: { reasonString: message.length > 200 ? `${message.slice(0, 200)}...` : message } });
    }
    this.shutdown();
  }

  private shutdown(): void {
    this.closing = true;
    this.end();
    this.release(true);
  }

  private closed(error: Error | undefined): void {
    if (error !== undefined) this.logger.debug({ event: 'mqtt.socket-error', err: error }, 'MQTT socket closed with an error');
    // a socket that closes without DISCONNECT is an abnormal end: the will goes out ([MQTT-3.1.2-8])
    this.release(true);
  }

  /** Ends this connection's hold on core and on its session: the will, the session's expiry. */
  private release(publishWill: boolean): void {
    clearTimeout(this.connectTimer);
    clearInterval(this.keepAliveTimer);
    const core = this.core;
    const state = this.state;
    if (core === undefined || state === undefined) return;
    this.core = undefined;
    this.session = undefined;
    this.state = undefined;
    state.connected = false;
    for (const subscription of this.subscriptions.values()) subscription.consumers.length = 0;
    this.subscriptions = NO_SUBSCRIPTIONS;
    this.outbound = NO_OUTBOUND;
    core.close();
    const will = publishWill ? this.will : undefined;
    this.will = undefined;
    if (this.evicted) {
      // the newer connection carries the session on; a will without delay still goes out
      if (will !== undefined && will.delay === 0) this.publishWill(will);
      return;
    }
    const expiry = this.sessionExpiry;
    if (will !== undefined) {
      const delay = Math.min(will.delay, expiry);
      if (delay === 0) this.publishWill(will);
      else {
        const send = (): void => {
          clearTimeout(state.willTimer);
          state.willTimer = undefined;
          state.pendingWill = undefined;
          this.publishWill(will);
        };
        state.pendingWill = send;
        state.willTimer = longTimeout(delay * 1000, send);
      }
    }
    if (expiry === 0) this.endSession(state);
    else if (expiry !== FOREVER) state.expiryTimer = longTimeout(expiry * 1000, () => this.endSession(state));
  }

  /** The session is over: its durable subscriptions go, and with them what they kept. */
  private endSession(state: SessionState): void {
    if (state.connected || this.states.get(state.clientId) !== state) return;
    // [MQTT-3.1.3-9]: a delayed will goes out when its session ends, if not before
    const pendingWill = state.pendingWill;
    this.states.delete(state);
    pendingWill?.();
    const clientId = state.clientId;
    this.states.withInternal(this.broker, ({ connection }) => {
      // a client that came back meanwhile has its session again
      if (this.states.get(clientId) !== undefined) return;
      connection.forgetSessionIds([PUBREL_OWED], clientId);
      for (const d of connection.durableSubscriptions(clientId)) {
        if (d.active) continue;
        try {
          connection.deleteDurableSubscription(d.name, clientId);
        } catch (err) {
          this.logger.debug({ event: 'mqtt.session-expiry', err }, 'could not remove a durable subscription of an expired session');
        }
      }
    });
  }

  private publishWill(will: Will): void {
    try {
      const payload = typeof will.init.payload === 'string' ? Buffer.from(will.init.payload, 'utf8') : will.init.payload;
      const init = publishToMessage(will.init, topicToFerry(will.topic), payload, Date.now(), will.retain);
      this.states.publish(this.broker, init, will.retain);
    } catch (err) {
      this.logger.warn({ event: 'mqtt.will-failed', clientId: this.clientId, err }, 'could not publish a will');
    }
  }

  private writePacket(packet: Packet): void {
    this.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  private ownSubscriptions(): Map<string, Subscription> {
    if (this.subscriptions === NO_SUBSCRIPTIONS) this.subscriptions = new Map();
    return this.subscriptions;
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
