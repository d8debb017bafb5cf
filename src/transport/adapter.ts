import type { BrokerAccess } from '../core/index.js';
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
  attach(connection: TransportConnection, broker: BrokerAccess): void;
}
