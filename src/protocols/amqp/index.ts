import type { ProtocolModule } from '../../transport/index.js';
import { createAmqpAdapter, amqpWebSocketProtocols } from './adapter.js';
import { amqpOptionsSchema, type AmqpOptions } from './options.js';

export const amqpProtocol: ProtocolModule<AmqpOptions, 'amqp'> = {
  name: 'amqp',
  title: 'AMQP 1.0',
  defaultPort: 5672,
  defaultTlsPort: 5671,
  webSocketProtocols: amqpWebSocketProtocols,
  optionsSchema: amqpOptionsSchema,
  createAdapter: createAmqpAdapter,
};

export { createAmqpAdapter } from './adapter.js';
export { defaultAmqpOptions, type AmqpOptions } from './options.js';
export { capabilityOf, formatAddress, parseAddress } from './address.js';
export { decodeMessage, deliveryPayload, encodeHeader, encodeMessage, type DecodedMessage } from './mapping.js';
export { AmqpReader, AmqpSymbol, AmqpWriter, Described, type AmqpValue } from './codec.js';
export { FrameGuard, protocolHeader, type GuardFailure } from './frame-guard.js';
