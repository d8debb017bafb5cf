import type { ProtocolModule } from '../../transport/index.js';
import { createStompAdapter, stompWebSocketProtocols } from './adapter.js';
import { stompOptionsSchema, type StompOptions } from './options.js';

export const stompProtocol: ProtocolModule<StompOptions, 'stomp'> = {
  name: 'stomp',
  title: 'STOMP',
  defaultPort: 61613,
  defaultTlsPort: 61612,
  webSocketProtocols: stompWebSocketProtocols,
  optionsSchema: stompOptionsSchema,
  createAdapter: createStompAdapter,
};

export { createStompAdapter, type StompAdapter } from './adapter.js';
export { defaultStompOptions, type StompOptions } from './options.js';
export { StompParser, encodeFrame, escapeHeader, type StompFrame, type StompParserLimits, type StompVersion } from './codec.js';
export { formatDestination, messageHead, parseDestination, sendToMessage, type TemporaryNames } from './mapping.js';
export { LINK_FORM, linkMessageHead, readLinkFields, type LinkFields } from './link-form.js';
export { DuplexLinks, serverCommands, type DuplexAcceptor, type DuplexEnd, type DuplexPeer } from './duplex.js';
