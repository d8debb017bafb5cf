export { Broker, type BrokerOptions, type BrokerStats, type DurableSubscriptionInfo, type DurableSubscriptionStats, type SubscribeOptions } from './broker.js';
export { CoreConnection, CoreSession, type ConnectionInfo, type SendOptions } from './connection.js';
export type { AckMode, Consumer } from './consumer.js';
export type { Delivery, DeliverySink } from './sink.js';
export type { Logger } from './logger.js';
export { silentLogger } from './logger.js';
export { matchesPattern, validateDestinationName, hasWildcard, isSystemTopic, subscriptionMatches } from './address.js';
export { clampPriority, isExpired, type BodyKind, type Destination, type Message, type MessageInit, type PropertyValue } from './message.js';
export type { QueueStats } from './message-queue.js';
