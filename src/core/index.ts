export { Broker } from './broker.js';
export type { BrokerOptions } from './broker-options.js';
export type {
  Authenticator,
  Authorizer,
  BrokerStats,
  ClientConnectionInfo,
  ConnectRequest,
  ConsumerHandle,
  Credentials,
  DurableOptions,
  DurableSubscriptionInfo,
  DurableSubscriptionStats,
  Operation,
  PeerCertificate,
  Principal,
  SaslExchange,
  SaslStep,
  SubscribeOptions,
  TransportFacts,
} from './access.js';
export { allowEveryone, DEFAULT_SASL_MECHANISMS } from './access.js';
export type { BrokerAccess } from './broker-access.js';
export type { CoreConnection, CoreSession, SendOptions } from './connection.js';
export type { BindingSpec, CommittedPublish, ExchangeSpec, ExchangeType, HeadersMatch, PublishOptions, PublishResult } from './exchanges.js';
export { DEFAULT_EXCHANGES } from './exchanges.js';
export type { DeleteQueueOptions, QueueArguments, QueueDeclared, QueueSpec } from './queue-arguments.js';
export type { CompositeDestination, VirtualTopicOptions } from './destinations.js';
export type { DatabaseStoreStatus, JournalReport, StoreReport } from './inspection.js';
export type { AckMode } from './consumer.js';
export type { ConsumerInfo, ConsumerWatcher, DurableRemoved } from './consumer-events.js';
export type { DestinationWatcher } from './destination-events.js';
export type { ConnectionFacts, ConnectionWatcher } from './connection-events.js';
export type { SequenceMarkBook } from './sequence-marks.js';
export type { ProducerFacts, ProducerHandle, ProducerWatcher } from './producer-events.js';
export type { MessageOutcomeWatcher } from './message-outcomes.js';
export type { OverlapMember } from './overlap.js';
export type { Delivery, DeliverySink } from './sink.js';
export type { Logger } from './logger.js';
export { silentLogger } from './logger.js';
export { matchesPattern, validateDestinationName, hasWildcard, isSystemTopic, isTemporaryName, subscriptionMatches } from './address.js';
export { addTypedBodyReader, mapBodyEntries, streamBodyItems, type TypedBodyReader, type TypedValue } from './typed-body.js';
export { headerOfProperty, type HeaderProperty } from './header-properties.js';
export { bodyLengthOf, clampPriority, isExpired, isNumberWireType, isPropertyWireType, isStructuredProperty, type BodyKind, type Destination, type Message, type MessageInit, type NativeEncoding, type PublishInit, type PropertyChanges, type PropertyValue, type PropertyWireType } from './message.js';
export type { DroppedCount, QueueStats } from './queue-types.js';
export { DUPLICATE_ID_PROPERTY } from './duplicates.js';
export { FANNED_OUT_PROPERTY } from './destinations.js';
export { ScheduleProperty } from './scheduler.js';
export { RETAIN_PROPERTY, isRetainValue } from './retained.js';
export { DEATH_HISTORY, readDeaths, type Death } from './death-history.js';
