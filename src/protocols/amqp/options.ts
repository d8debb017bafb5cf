export interface AmqpOptions {
  /** Largest frame the broker accepts and offers in its open (max-frame-size), in bytes. */
  readonly maxFrameSize: number;
  /** Largest message (all the frames of one transfer together) accepted, in bytes. */
  readonly maxMessageSize: number;
  /** Most sessions on one connection (channel-max + 1). */
  readonly maxSessions: number;
  /** Most links on one connection, all sessions together. */
  readonly maxLinks: number;
  /**
   * The idle-time-out the broker announces in its open, in ms (0: none). A client silent for twice
   * this is disconnected, as the specification recommends (it asks peers to announce half their
   * real limit). The client's own idle-time-out is honoured by sending empty frames at half of it.
   */
  readonly idleTimeout: number;
  /** Milliseconds a client has to finish SASL and send its open after connecting. */
  readonly openTimeout: number;
  /** Link credit the broker gives each sending link, topped up when half is used. */
  readonly producerCredit: number;
  /**
   * Unsettled deliveries per session and direction, counted from the oldest unsettled one: the
   * session's incoming window, and how far deliveries to consumers may run ahead of settlement.
   */
  readonly sessionWindow: number;
}

export const defaultAmqpOptions: AmqpOptions = {
  maxFrameSize: 256 * 1024,
  maxMessageSize: 10 * 1024 * 1024,
  maxSessions: 256,
  maxLinks: 10_000,
  idleTimeout: 30_000,
  openTimeout: 10_000,
  producerCredit: 1000,
  sessionWindow: 4096,
};
