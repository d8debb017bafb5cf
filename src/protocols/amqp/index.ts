export { createAmqpAdapter } from './adapter.js';
export { defaultAmqpOptions, type AmqpOptions } from './options.js';
export { capabilityOf, formatAddress, parseAddress } from './address.js';
export { decodeMessage, deliveryPayload, encodeHeader, encodeMessage, type DecodedMessage } from './mapping.js';
export { AmqpReader, AmqpSymbol, AmqpWriter, Described, type AmqpValue } from './codec.js';
export { FrameGuard, protocolHeader, type GuardFailure } from './frame-guard.js';
