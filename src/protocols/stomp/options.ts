export interface StompOptions {
  /** Largest frame body accepted, in bytes. */
  readonly maxFrameSize: number;
  /** Largest command line plus header block, in bytes. */
  readonly maxHeaderSize: number;
  readonly maxHeaders: number;
  /** Milliseconds a client has to send CONNECT after opening the socket. */
  readonly connectTimeout: number;
  /** Smallest interval at which the broker offers to send heart-beats (0: never). */
  readonly heartbeatSend: number;
  /** Interval at which the broker asks for the client's heart-beats (0: never). */
  readonly heartbeatReceive: number;
  /** A client is late when silent for its heart-beat interval times this factor. */
  readonly heartbeatGrace: number;
  /** Prefetch of a subscription that does not give activemq.prefetchSize. */
  readonly defaultPrefetch: number;
  readonly maxSubscriptions: number;
}

export const defaultStompOptions: StompOptions = {
  maxFrameSize: 10 * 1024 * 1024,
  maxHeaderSize: 64 * 1024,
  maxHeaders: 1000,
  connectTimeout: 10_000,
  heartbeatSend: 1000,
  heartbeatReceive: 1000,
  heartbeatGrace: 1.5,
  defaultPrefetch: 1000,
  maxSubscriptions: 10_000,
};
