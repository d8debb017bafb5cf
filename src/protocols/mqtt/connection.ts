import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { FerryError, isFerryError } from '../../errors.js';
import type { BrokerAccess, ConsumerHandle, CoreConnection, CoreSession, Logger, SaslExchange } from '../../core/index.js';
import { ReadHold, type TransportConnection } from '../../transport/index.js';
import type { publishToMessage, QoS } from './mapping.js';
import type { MqttOptions } from './options.js';
import type { SessionState, SessionStates } from './session-state.js';
import { mqttReasonOf } from './reasons.js';
import { PacketFramer, type KnownTopic, type PacketReceiver } from './framing.js';
import type { KeepAliveWatched, KeepAliveWheel } from './keep-alive.js';

export type Version = 3 | 4 | 5;

/** Sessions that never expire: MQTT 3.1.1 clean-session 0, or MQTT 5's 0xFFFFFFFF. */
export const FOREVER = 0xffffffff;

export interface Subscription {
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

export interface Outbound {
  readonly consumer: ConsumerHandle;
  readonly tag: number;
  readonly qos: QoS;
  /** For a persistent session: the key its packet id is remembered under until acknowledged. */
  readonly resendKey: string | undefined;
}

export interface Will {
  readonly init: Parameters<typeof publishToMessage>[0];
  readonly topic: string;
  readonly retain: boolean;
  readonly delay: number;
}

/** An enhanced-authentication exchange under way (auth.ts). */
export interface EnhancedAuth {
  readonly phase: 'connect' | 'reauthenticate';
  readonly exchange: SaslExchange;
  /** 'client' while an AUTH from the client is due; 'broker' while the exchange works on the last one. */
  awaiting: 'client' | 'broker';
  readonly proved: (finalData: Buffer | undefined) => void;
  readonly failed: (err: unknown) => void;
}

/** Never written to: see MqttConnection.subscriptions and .outbound. */
export const NO_SUBSCRIPTIONS = new Map<string, Subscription>();
export const NO_OUTBOUND = new Map<number, Outbound>();

/**
 * What one MQTT connection holds: the packet ids in flight each way, topic aliases, the will, the
 * keep-alive timer, and its writes. `MqttSession` (session.ts) reads its packets; the handlers of
 * each concern work on this state, one module each, as aedes has one handler per packet type:
 * connect.ts (CONNECT, resume, takeover), inbound.ts (PUBLISH from the client),
 * outbound.ts (deliveries and their acknowledgements), subscriptions.ts, will-and-expiry.ts.
 * Its members are the folder's own: index.ts exports none of them.
 */
export abstract class MqttConnection implements PacketReceiver, KeepAliveWatched {
  /**
   * mqtt-packet's parser, for the packets not decoded on the message path. Made when one comes and
   * let go after a control packet (CONNECT, SUBSCRIBE, ...): a parser and its stream are about a
   * fifth of an idle connection's memory.
   */
  parser: ReturnType<typeof mqttPacket.parser> | undefined;
  /** The bytes of the PUBLISH the parser is reading, for what it does not keep (see `userPropertiesInOrder`). */
  parsingPublish: { readonly buf: Buffer; readonly start: number; readonly bodyStart: number; readonly end: number } | undefined;
  readonly framer: PacketFramer;
  version: Version = 4;
  /**
   * The CONNECT set the bridge bit (protocol level 0x83/0x84, Mosquitto's `try_private`): its
   * subscriptions are no-local and retain-as-published, as Mosquitto makes a bridge's, or a bridge
   * subscribed both ways would get every message it forwards back.
   */
  bridge = false;
  core: CoreConnection | undefined;
  /** Packets that came after CONNECT while the broker was still deciding on it, as copies. */
  held: { readonly packet: Buffer; readonly bodyStart: number }[] | undefined;
  session: CoreSession | undefined;
  state: SessionState | undefined;
  /** The CONNECT's Authentication Method (MQTT 5 enhanced authentication), which re-authentication keeps. */
  authMethod: string | undefined;
  auth: EnhancedAuth | undefined;
  clientId = '';
  sessionExpiry = 0;
  will: Will | undefined;
  // shared empty maps until the first subscription and the first QoS 1/2 delivery: an idle
  // connection should cost little; every `set` replaces them first
  subscriptions: Map<string, Subscription> = NO_SUBSCRIPTIONS;
  outbound: Map<number, Outbound> = NO_OUTBOUND;
  nextPacketId = 1;
  /** QoS 1 and 2 messages this client lets the broker have in flight to it. */
  sendWindow: number;
  clientMaxPacketSize = Number.POSITIVE_INFINITY;
  clientAliasMaximum = 0;
  /** Made when an MQTT 5 client uses topic aliases. */
  outboundAliases: Map<string, number> | undefined;
  inboundAliases: Map<number, string> | undefined;
  /** Inbound QoS 1 publishes not yet acknowledged and QoS 2 ones not yet completed: what the broker's Receive Maximum limits. */
  inboundPending = 0;
  /** Packet ids of the QoS 2 publishes counted in `inboundPending`; made on the first. */
  inboundQos2: Set<number> | undefined;
  /** The latest store sync an acknowledgement must wait for; syncs complete in order. */
  durable: Promise<void> | null = null;
  connectTimer: NodeJS.Timeout | undefined;
  /** Milliseconds of silence that close the connection (keep-alive times its grace); 0: none. */
  keepAliveLimit = 0;
  keepAliveSlot = -1;
  lastReceived = Date.now();
  /** A PUBLISH that filled a queue with memoryPolicy block stops reading until it has room. */
  readonly readHold: ReadHold;
  closing = false;
  evicted = false;
  readonly v5Key: string;
  /**
   * PUBACKs of the current read, written as one buffer when the read is done (a chunk of 1 KiB
   * publishes holds about sixty); the slab's unused end serves the next read.
   */
  acks: Buffer | undefined;
  acksStart = 0;
  acksEnd = 0;
  /** Consumers whose deliveries this read acknowledged, to dispatch to once it is done; all of them when the window was full. */
  readonly toWake: ConsumerHandle[] = [];
  wakeAll = false;
  /** The last topic name published to, and its bytes: the next PUBLISH to it is not decoded again. */
  knownTopic: KnownTopic | undefined;
  /**
   * The last topic each way, mapped: a client mostly publishes to, and hears from, one topic at a
   * time, and the mapping and checks of a topic were a tenth of the allocations per message.
   */
  lastInboundTopic: string | undefined;
  lastInboundFerryTopic = '';
  lastOutboundName: string | undefined;
  lastOutboundTopic: { text: string; bytes: Buffer } | undefined;

  constructor(
    readonly transport: TransportConnection,
    readonly broker: BrokerAccess,
    readonly options: MqttOptions,
    readonly states: SessionStates,
    readonly logger: Logger,
    readonly counters: { received: number; sent: number },
    readonly keepAlive: KeepAliveWheel,
  ) {
    this.sendWindow = options.maxInflight;
    this.v5Key = 'mqtt5';
    this.readHold = new ReadHold(transport);
    // the connection is its framer's receiver, so an idle connection carries no closures for it
    this.framer = new PacketFramer(options.maxPacketSize, this);
  }

  abstract packet(buf: Buffer, start: number, bodyStart: number, end: number): boolean;
  abstract malformed(err: FerryError): void;
  abstract tooLarge(size: number): void;

  /** Answers bad input or a failure (MQTT 5: DISCONNECT with the reason code of reasons.ts) and closes this connection only. */
  abstract fail(err: unknown): void;

  /** Closes this connection: its will goes out, its session's expiry starts. */
  abstract shutdown(): void;

  /** After a read: the acknowledgements it batched go out, the consumers they freed are dispatched to. */
  abstract afterRead(): void;

  /** KeepAliveWatched: a held producer's packets wait unread, so its silence is the broker's. */
  silentSince(): number | undefined {
    return this.readHold.held ? undefined : Math.max(this.lastReceived, this.readHold.endedAt);
  }

  /** KeepAliveWatched: [MQTT-3.1.2-24]. */
  keepAliveExpired(): void {
    const seconds = Math.round(this.keepAliveLimit / this.options.keepAliveGrace / 1000);
    this.fail(new FerryError('FERRY_MQTT_KEEPALIVE_TIMEOUT', `nothing received for more than ${Math.round(this.keepAliveLimit)} ms (keep-alive ${seconds} s)`));
  }

  /** Bad input at warn, without a stack; other FerryErrors at debug; anything else is a bug, logged with its stack. */
  logFailure(err: unknown, what: string): void {
    if (!isFerryError(err)) {
      this.logger.error({ event: 'mqtt.internal-error', err }, 'unexpected error in an MQTT session');
      return;
    }
    const entry = { event: 'mqtt.error', code: err.code, message: err.message, remote: this.transport.remoteAddress };
    if (mqttReasonOf(err).badInput) this.logger.warn(entry, what);
    else this.logger.debug(entry, what);
  }

  /**
   * Handles, in order, what came while the broker was deciding (a CONNECT, a step of its
   * authentication), then reads on; a packet that starts a new wait keeps the rest for it.
   */
  replayHeld(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (let i = 0; i < held.length; i++) {
      if (this.closing) return;
      const { packet, bodyStart } = held[i]!;
      this.packet(packet, 0, bodyStart, packet.length);
      // read again: handling the packet may have begun a new wait
      const waiting = this.held as typeof held | undefined;
      if (waiting !== undefined) {
        waiting.push(...held.slice(i + 1));
        return;
      }
    }
    this.afterRead();
    this.transport.resume();
  }

  flushAcks(): void {
    if (this.acksEnd === this.acksStart) return;
    this.transport.write(this.acks!.subarray(this.acksStart, this.acksEnd));
    this.acksStart = this.acksEnd;
  }

  write(data: Buffer): void {
    this.flushAcks();
    this.transport.write(data);
  }

  end(): void {
    this.flushAcks();
    this.transport.end();
  }

  writePacket(packet: Packet): void {
    this.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  ownSubscriptions(): Map<string, Subscription> {
    if (this.subscriptions === NO_SUBSCRIPTIONS) this.subscriptions = new Map();
    return this.subscriptions;
  }

  requireCore(): CoreConnection {
    if (this.core === undefined) throw new FerryError('FERRY_CONNECTION_CLOSED', 'the connection is closed');
    return this.core;
  }

  requireSession(): CoreSession {
    if (this.session === undefined) throw new FerryError('FERRY_CONNECTION_CLOSED', 'the connection is closed');
    return this.session;
  }
}
