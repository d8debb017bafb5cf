import type { BrokerAccess, Logger } from '../../core/index.js';
import type { ProtocolAdapter, TransportConnection } from '../../transport/index.js';
import { DuplexLinks } from './duplex.js';
import type { StompOptions } from './options.js';
import { StompSession } from './session.js';

const openingCommands = ['CONNECT', 'STOMP'];

/** True when the first bytes (after any heart-beat EOLs) start a CONNECT or STOMP frame. */
function detect(firstBytes: Buffer): boolean | undefined {
  let start = 0;
  while (start < firstBytes.length && (firstBytes[start] === 0x0a || firstBytes[start] === 0x0d)) start++;
  const text = firstBytes.toString('latin1', start, start + 8);
  for (const command of openingCommands) {
    if (text.length >= command.length + 1) {
      if (text.startsWith(command) && (text[command.length] === '\n' || text[command.length] === '\r')) return true;
    } else if (command.startsWith(text)) return undefined;
  }
  return false;
}

/** The STOMP adapter, with where its sessions hand duplex network links (`duplexLinks.acceptor`). */
export type StompAdapter = ProtocolAdapter & { readonly duplexLinks: DuplexLinks };

export function createStompAdapter(options: StompOptions, logger: Logger): StompAdapter {
  const duplexLinks = new DuplexLinks();
  return {
    name: 'stomp',
    detect,
    webSocketProtocols: stompWebSocketProtocols,
    duplexLinks,
    attach(connection: TransportConnection, broker: BrokerAccess): void {
      new StompSession(connection, broker, options, logger, duplexLinks);
    },
    close(): void {},
  };
}

/** WebSocket subprotocols that carry STOMP. */
/** In the broker's order of preference, the newest version first; plain `stomp` as ActiveMQ serves it too. */
export const stompWebSocketProtocols: readonly string[] = ['v12.stomp', 'v11.stomp', 'v10.stomp', 'stomp'];
