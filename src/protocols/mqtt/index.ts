import type { ProtocolModule } from '../../transport/index.js';
import { createMqttAdapter, mqttWebSocketProtocols } from './adapter.js';
import { mqttOptionsSchema, type MqttOptions } from './options.js';

export const mqttProtocol: ProtocolModule<MqttOptions, 'mqtt'> = {
  name: 'mqtt',
  title: 'MQTT',
  defaultPort: 1883,
  defaultTlsPort: 8883,
  webSocketProtocols: mqttWebSocketProtocols,
  optionsSchema: mqttOptionsSchema,
  createAdapter: createMqttAdapter,
};

export { createMqttAdapter } from './adapter.js';
export { defaultMqttOptions, type MqttOptions } from './options.js';
export { encodePublish, messageProperties, messageQos, publishToMessage, QOS_PROPERTY, RETAIN_PROPERTY } from './mapping.js';
export { parseFilter, topicFromFerry, topicToFerry, type ParsedFilter } from './topics.js';
