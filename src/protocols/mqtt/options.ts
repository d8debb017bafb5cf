export interface MqttOptions {
  /** Largest packet accepted, in bytes (advertised to MQTT 5 clients as Maximum Packet Size). */
  readonly maxPacketSize: number;
  /** Milliseconds a client has to send CONNECT after opening the socket. */
  readonly connectTimeout: number;
  /** A client silent for its keep-alive times this factor is disconnected ([MQTT-3.1.2-24]: 1.5). */
  readonly keepAliveGrace: number;
  /** Largest keep-alive in seconds a client may ask for; above it (or 0) MQTT 5 clients are told the server's. 0: no limit. */
  readonly maxKeepAlive: number;
  /** Unacknowledged QoS 1 and 2 messages in flight to a client that does not set Receive Maximum (MQTT 3.1.1). */
  readonly maxInflight: number;
  /** Unacknowledged QoS 1 and 2 publishes a client may have in flight to the broker (MQTT 5 Receive Maximum). */
  readonly receiveMaximum: number;
  /** Topic aliases an MQTT 5 client may use on its publishes. */
  readonly topicAliasMaximum: number;
  /** Longest session expiry in seconds a client may ask for; 4294967295 keeps sessions for ever. */
  readonly maxSessionExpiry: number;
  /** Subscriptions one connection may hold. */
  readonly maxSubscriptions: number;
  /** Milliseconds between two publications of the broker's statistics under $SYS/; 0 switches them off. */
  readonly sysInterval: number;
}

export const defaultMqttOptions: MqttOptions = {
  maxPacketSize: 10 * 1024 * 1024,
  connectTimeout: 10_000,
  keepAliveGrace: 1.5,
  maxKeepAlive: 0,
  maxInflight: 100,
  receiveMaximum: 1000,
  topicAliasMaximum: 100,
  maxSessionExpiry: 0xffffffff,
  maxSubscriptions: 10_000,
  sysInterval: 10_000,
};
