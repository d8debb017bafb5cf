import type { CoreConnection } from '../../core/index.js';
import type { StompFrame } from './codec.js';

/**
 * A duplex network link, seen from the broker it connected to: the neighbour's connector asked
 * (CONNECT with `ferry.duplex:true`) that this broker pull from it over the same connection. This
 * broker's side writes client frames (SUBSCRIBE, ACK...) down the connection, and the neighbour's
 * server frames (CONNECTED, MESSAGE, RECEIPT, ERROR) come back to it instead of to the session.
 */
export interface DuplexPeer {
  /** The CONNECT frame's headers: the neighbour's name and the settings of its connector. */
  readonly connect: ReadonlyMap<string, string>;
  readonly remoteAddress: string;
  /** The connection the neighbour logged in with: what the link brings here goes in with its rights. */
  readonly connection: CoreConnection;
  /** Writes a client frame to the neighbour. */
  write(command: string, headers: Iterable<readonly [string, string]>): void;
  /** Closes the whole connection. */
  close(): void;
}

/** This broker's end of the link that runs the other way. */
export interface DuplexEnd {
  frame(frame: StompFrame): void;
  /** The connection is gone. */
  closed(): void;
}

export interface DuplexAcceptor {
  accept(peer: DuplexPeer): DuplexEnd;
}

/** Where a broker's STOMP sessions hand duplex links: the network sets `acceptor` once it is built. */
export class DuplexLinks {
  acceptor: DuplexAcceptor | undefined;
}

/** The frames only a server sends: on a duplex link they belong to the link that runs the other way. */
export const serverCommands: ReadonlySet<string> = new Set(['CONNECTED', 'MESSAGE', 'RECEIPT', 'ERROR']);
