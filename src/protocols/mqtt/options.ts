import { z } from 'zod';
import { MAX_TIMER_DELAY } from '../../transport/index.js';

/** The `mqtt` section of the configuration: its one source of defaults. */
export const mqttOptionsSchema = z
  .object({
    /** Largest packet accepted, in bytes (advertised to MQTT 5 clients as Maximum Packet Size). */
    maxPacketSize: z.number().int().min(64).max(268_435_455).default(10 * 1024 * 1024),
    /** Milliseconds a client has to send CONNECT after opening the socket. */
    connectTimeout: z.number().int().positive().max(MAX_TIMER_DELAY).default(10_000),
    /** A client silent for its keep-alive times this factor is disconnected ([MQTT-3.1.2-24]: 1.5). */
    keepAliveGrace: z.number().min(1).default(1.5),
    /** Largest keep-alive in seconds a client may ask for; above it (or 0) MQTT 5 clients are told the server's. 0: no limit. */
    maxKeepAlive: z.number().int().min(0).max(65535).default(0),
    /** Unacknowledged QoS 1 and 2 messages in flight to a client that does not set Receive Maximum (MQTT 3.1.1). */
    maxInflight: z.number().int().min(1).max(65535).default(1000),
    /**
     * Unacknowledged QoS 1 and 2 messages in flight to an MQTT 3.1/3.1.1 bridge (a CONNECT with the
     * bridge bit, Mosquitto's `try_private`), at most maxInflight. Mosquitto takes as many from its
     * bridge as its max_inflight_messages (20 by default) and drops the others with reason 0x97,
     * which a 3.1.1 PUBACK or PUBREC cannot carry, so they would be lost without a word.
     */
    bridgeMaxInflight: z.number().int().min(1).max(65535).default(20),
    /** Unacknowledged QoS 1 and 2 publishes a client may have in flight to the broker (MQTT 5 Receive Maximum). */
    receiveMaximum: z.number().int().min(1).max(65535).default(1000),
    /** Topic aliases an MQTT 5 client may use on its publishes. */
    topicAliasMaximum: z.number().int().min(0).max(65535).default(100),
    /** Longest session expiry in seconds a client may ask for; 4294967295 keeps sessions for ever. */
    maxSessionExpiry: z.number().int().min(0).max(0xffffffff).default(0xffffffff),
    /** Subscriptions one connection may hold. */
    maxSubscriptions: z.number().int().positive().default(10_000),
    /**
     * Milliseconds between WebSocket pings to MQTT clients over WebSocket, in place of
     * websocket.pingInterval; 0 (the default): none, as Mosquitto sends none. Keep-alive finds dead
     * clients, and paho-mqtt (Python, up to 1.6) answers a ping with an unmasked pong, a protocol
     * error that closes its connection (RFC 6455 5.1).
     */
    websocketPingInterval: z.number().int().min(0).max(MAX_TIMER_DELAY).default(0),
    /** Milliseconds between two publications of the broker's statistics under $SYS/; 0 switches them off. */
    sysInterval: z.number().int().min(0).max(MAX_TIMER_DELAY).default(10_000),
  })
  .strict()
  .default({});

export type MqttOptions = Readonly<z.infer<typeof mqttOptionsSchema>>;

export const defaultMqttOptions: MqttOptions = mqttOptionsSchema.parse({});
