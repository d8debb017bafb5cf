import type { ProtocolModule } from '../../transport/index.js';
import { createAmqp091Adapter } from './adapter.js';
import { amqp091OptionsSchema, type Amqp091Options } from './options.js';

export const amqp091Protocol: ProtocolModule<Amqp091Options, 'amqp091'> = {
  name: 'amqp091',
  title: 'AMQP 0-9-1',
  defaultPort: 5672,
  defaultTlsPort: 5671,
  webSocketProtocols: [],
  optionsSchema: amqp091OptionsSchema,
  createAdapter: createAmqp091Adapter,
  guestOf: (options) => (options.onAmqpPort ? { protocol: 'amqp', detectTimeout: options.handshakeTimeout } : undefined),
};

export { createAmqp091Adapter } from './adapter.js';
export { defaultAmqp091Options, type Amqp091Options } from './options.js';
export { FrameReader, PROTOCOL_HEADER, decodeContentHeader, encodeProperties, type BasicProperties } from './frames.js';
export { decodeMethod, encodeMethod, methodPayload, type Method, type MethodName } from './methods.js';
export { Decimal, FieldReader, FieldWriter, Timestamp, Typed, decodeTable, encodeTable, type FieldTable, type FieldValue } from './field-table.js';
export { basicProperties, publishToInit, toProperty } from './mapping.js';
