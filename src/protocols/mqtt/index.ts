export { createMqttAdapter } from './adapter.js';
export { defaultMqttOptions, type MqttOptions } from './options.js';
export { encodePublish, messageProperties, messageQos, publishToMessage, QOS_PROPERTY, RETAIN_PROPERTY } from './mapping.js';
export { parseFilter, topicFromFerry, topicToFerry, type ParsedFilter } from './topics.js';
