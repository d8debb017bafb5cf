import type { ZodType, ZodTypeDef } from 'zod';
import type { BrokerAccess, Logger } from '../core/index.js';
import type { TransportConnection } from './connection.js';

/**
 * What a protocol gives the transport layer. Listeners know protocols only through this, so a
 * protocol can be served on its own port, on a shared port (told apart by `detect`), or over
 * WebSocket (by subprotocol).
 */
export interface ProtocolAdapter {
  readonly name: string;
  /** For a shared port: true if these first bytes are this protocol, undefined if more are needed. */
  detect(firstBytes: Buffer): boolean | undefined;
  /** WebSocket subprotocols this adapter serves. */
  readonly webSocketProtocols: readonly string[];
  /**
   * ms between WebSocket pings on this protocol's connections, in place of websocket.pingInterval;
   * 0: none. For a protocol whose own keep-alive the broker enforces, so that a client's pong is
   * not what keeps it connected.
   */
  readonly webSocketPingInterval?: number | undefined;
  attach(connection: TransportConnection, broker: BrokerAccess): void;
  /**
   * The broker has started, its store recovered, before any client is let in: a protocol that
   * looks after what its sessions left behind (MQTT's session expiry) takes it up again.
   */
  started?(broker: BrokerAccess): void;
  /**
   * The broker is about to stop and still routes and stores messages, before any adapter's
   * `stopping`: what a protocol publishes for its clients when their connections end (MQTT's wills)
   * goes out now, while the subscribers of every protocol are still connected. The stop waits for
   * the promise, at most `transport.stopTimeout` ms.
   */
  publishOnStop?(): Promise<void>;
  /**
   * The broker is about to stop, before listeners end their connections: a protocol that tells its
   * clients why (AMQP 0-9-1's 320 CONNECTION_FORCED) does so now.
   */
  stopping?(): void;
  /** The broker is stopping: timers and connections the adapter keeps for itself end. */
  close(): void;
}

/**
 * A protocol as the rest of Ferry sees it: the server, the `ferry start` options, the configuration
 * schema and the test helpers all loop over the registered modules (src/protocols/registry.ts), so
 * adding a protocol touches its own folder and one line of the registry.
 */
export interface ProtocolModule<Options, Name extends string = string> {
  /** Configuration key (`listeners.<name>`, `<name>`), option prefix (`--<name>-port`) and log name. */
  readonly name: Name;
  /** How the documentation and help text name it. */
  readonly title: string;
  readonly defaultPort: number;
  /** Its TLS listener's port (`listeners.<name>Tls`), off unless switched on. */
  readonly defaultTlsPort: number;
  readonly webSocketProtocols: readonly string[];
  /** Its configuration section, with every default. */
  readonly optionsSchema: ZodType<Options, ZodTypeDef, unknown>;
  /**
   * For a protocol whose port also serves the others (OpenWire's 61616, as ActiveMQ's `auto`
   * transport does): how long a client has to say which it speaks, or undefined when its options
   * switch that off.
   */
  sharedPort?(options: Options): { readonly detectTimeout: number } | undefined;
  /**
   * For a protocol served on another protocol's listeners (AMQP 0-9-1 on AMQP 1.0's port, as
   * RabbitMQ does): that protocol's name and how long a client has to send the bytes that tell them
   * apart; undefined when its options switch that off. Its own listener is then off by default.
   */
  guestOf?(options: Options): { readonly protocol: string; readonly detectTimeout: number } | undefined;
  createAdapter(options: Options, logger: Logger): ProtocolAdapter;
}
