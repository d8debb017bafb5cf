import type { Seed } from './mutate.js';

/** What the broker sent back on one connection, as its protocol reads. */
export interface Reply {
  /** The protocol's errors seen, each named with its code or condition (`ERROR FERRY_STOMP_BAD_FRAME`, `close amqp:decode-error`). */
  readonly errors: readonly string[];
  /** The probe was answered: the connection carried on through everything sent before it. */
  readonly probeAnswered: boolean;
}

/**
 * One decoder to fuzz: how to open a connection to it (the handshake, as frames that a case may
 * also mutate), the valid frames to mutate after it, a probe that proves the connection still
 * works, and how to read the broker's answers.
 */
export interface FuzzTarget {
  /** e.g. `stomp`, `mqtt-5`, `amqp-sasl`, `ws-stomp`. */
  readonly name: string;
  /** The listener it connects to, as the broker's `ports` name it. */
  readonly listener: string;
  /** The frames that open a connection, in order. */
  readonly handshake: readonly Seed[];
  /** Valid frames for after the handshake. */
  readonly seeds: readonly Seed[];
  /** The broker has answered the whole handshake (in `received`, everything from the start). */
  handshakeDone(received: Buffer): boolean;
  /**
   * Sent after a case's bytes: a request the broker answers (and then closes) only if the
   * connection is still sound.
   */
  readonly probe: Buffer;
  /** Reads everything received on the connection so far. */
  read(received: Buffer): Reply;
  /**
   * Whether the broker must say why when it closes this connection. False where closing without a
   * word is the protocol's own answer (MQTT 3.1.1 has no error packet), or where the bytes sent
   * may have asked to close (a DISCONNECT).
   */
  errorDue(phase: 'before' | 'after', sent: Buffer): boolean;
}
