/**
 * OpenWire's data structures: their type numbers and, for each, its fields in wire order with the
 * protocol version that added them. The codec (`marshal.ts`) reads and writes any structure from
 * this table, so a structure is one line here and never hand-written reading code.
 */

export const T = {
  WIREFORMAT_INFO: 1,
  BROKER_INFO: 2,
  CONNECTION_INFO: 3,
  SESSION_INFO: 4,
  CONSUMER_INFO: 5,
  PRODUCER_INFO: 6,
  TRANSACTION_INFO: 7,
  DESTINATION_INFO: 8,
  REMOVE_SUBSCRIPTION_INFO: 9,
  KEEP_ALIVE_INFO: 10,
  SHUTDOWN_INFO: 11,
  REMOVE_INFO: 12,
  CONTROL_COMMAND: 14,
  FLUSH_COMMAND: 15,
  CONNECTION_ERROR: 16,
  CONSUMER_CONTROL: 17,
  CONNECTION_CONTROL: 18,
  PRODUCER_ACK: 19,
  MESSAGE_PULL: 20,
  MESSAGE_DISPATCH: 21,
  MESSAGE_ACK: 22,
  MESSAGE: 23,
  BYTES_MESSAGE: 24,
  MAP_MESSAGE: 25,
  OBJECT_MESSAGE: 26,
  STREAM_MESSAGE: 27,
  TEXT_MESSAGE: 28,
  BLOB_MESSAGE: 29,
  RESPONSE: 30,
  EXCEPTION_RESPONSE: 31,
  DATA_RESPONSE: 32,
  DATA_ARRAY_RESPONSE: 33,
  INTEGER_RESPONSE: 34,
  DISCOVERY_EVENT: 40,
  DURABLE_SUBSCRIPTION_INFO: 55,
  PARTIAL_COMMAND: 60,
  PARTIAL_LAST_COMMAND: 61,
  REPLAY: 65,
  MESSAGE_DISPATCH_NOTIFICATION: 90,
  NETWORK_BRIDGE_FILTER: 91,
  BROKER_SUBSCRIPTION_INFO: 92,
  QUEUE: 100,
  TOPIC: 101,
  TEMP_QUEUE: 102,
  TEMP_TOPIC: 103,
  MESSAGE_ID: 110,
  LOCAL_TRANSACTION_ID: 111,
  XA_TRANSACTION_ID: 112,
  CONNECTION_ID: 120,
  SESSION_ID: 121,
  CONSUMER_ID: 122,
  PRODUCER_ID: 123,
  BROKER_ID: 124,
} as const;

/** The newest OpenWire version Ferry speaks (ActiveMQ 5.12 and later), and the oldest. */
export const NEWEST_VERSION = 12;
export const OLDEST_VERSION = 9;

/**
 * How a field travels in loose encoding. `cached` is a nested structure that the marshalling cache
 * could replace with an index; Ferry negotiates the cache off, so it travels nested. `exactLong` is a
 * long a client may set anywhere in its 64 bits (a JMSExpiration): a number while it is one exactly,
 * a bigint past 2^53.
 */
export type FieldKind = 'bool' | 'byte' | 'short' | 'int' | 'long' | 'exactLong' | 'string' | 'nested' | 'cached' | 'throwable' | 'bytes' | 'array' | 'magic';

export interface Field {
  readonly name: string;
  readonly kind: FieldKind;
  /** The first protocol version with this field. */
  readonly since: number;
}

/** Any structure as decoded: its type and its fields by name. */
export interface DataStructure {
  readonly type: number;
  [field: string]: unknown;
}

/** A Java exception as the wire carries it: only names, never anything the broker would load. */
export interface WireThrowable {
  readonly className: string | null;
  readonly message: string | null;
}

function fields(spec: string): Field[] {
  return spec
    .trim()
    .split(/\s+/)
    .map((item) => {
      const [name, kind, since] = item.split(':') as [string, FieldKind, string | undefined];
      return { name, kind, since: since === undefined ? 1 : Number(since) };
    });
}

const command = 'commandId:int responseRequired:bool';
const message = `${command} producerId:cached destination:cached transactionId:cached originalDestination:cached
  messageId:nested originalTransactionId:cached groupId:string groupSequence:int correlationId:string persistent:bool
  expiration:exactLong priority:byte replyTo:nested timestamp:long jmsType:string content:bytes marshalledProperties:bytes
  dataStructure:nested targetConsumerId:cached compressed:bool redeliveryCounter:int brokerPath:array arrival:long
  userId:string receivedByDfBridge:bool droppable:bool cluster:array brokerInTime:long brokerOutTime:long
  jmsxGroupFirstForConsumer:bool:10`;
const response = `${command} correlationId:int`;

/** Every structure Ferry reads or writes, by type number, fields in wire order (the v12 marshallers). */
export const schemas: ReadonlyMap<number, readonly Field[]> = new Map<number, Field[]>([
  [T.WIREFORMAT_INFO, fields('magic:magic version:int marshalledProperties:bytes')],
  [T.BROKER_INFO, fields(`${command} brokerId:cached brokerUrl:string peerBrokerInfos:array brokerName:string slaveBroker:bool
    masterBroker:bool faultTolerantConfiguration:bool duplexConnection:bool networkConnection:bool connectionId:long
    brokerUploadUrl:string networkProperties:string`)],
  [T.CONNECTION_INFO, fields(`${command} connectionId:cached clientId:string password:string userName:string brokerPath:array
    brokerMasterConnector:bool manageable:bool clientMaster:bool faultTolerant:bool failoverReconnect:bool clientIp:string`)],
  [T.SESSION_INFO, fields(`${command} sessionId:cached`)],
  [T.CONSUMER_INFO, fields(`${command} consumerId:cached browser:bool destination:cached prefetchSize:int
    maximumPendingMessageLimit:int dispatchAsync:bool selector:string clientId:string:10 subscriptionName:string noLocal:bool
    exclusive:bool retroactive:bool priority:byte brokerPath:array additionalPredicate:nested networkSubscription:bool
    optimizedAcknowledge:bool noRangeAcks:bool networkConsumerPath:array`)],
  [T.PRODUCER_INFO, fields(`${command} producerId:cached destination:cached brokerPath:array dispatchAsync:bool windowSize:int`)],
  [T.TRANSACTION_INFO, fields(`${command} connectionId:cached transactionId:cached transactionType:byte`)],
  [T.DESTINATION_INFO, fields(`${command} connectionId:cached destination:cached operationType:byte timeout:long brokerPath:array`)],
  [T.REMOVE_SUBSCRIPTION_INFO, fields(`${command} connectionId:cached subscriptionName:string clientId:string`)],
  [T.KEEP_ALIVE_INFO, fields(command)],
  [T.SHUTDOWN_INFO, fields(command)],
  [T.REMOVE_INFO, fields(`${command} objectId:cached lastDeliveredSequenceId:long`)],
  [T.CONTROL_COMMAND, fields(`${command} command:string`)],
  [T.FLUSH_COMMAND, fields(command)],
  [T.CONNECTION_ERROR, fields(`${command} exception:throwable connectionId:nested`)],
  [T.CONSUMER_CONTROL, fields(`${command} destination:nested close:bool consumerId:nested prefetch:int flush:bool start:bool stop:bool`)],
  [T.CONNECTION_CONTROL, fields(`${command} close:bool exit:bool faultTolerant:bool resume:bool suspend:bool connectedBrokers:string
    reconnectTo:string rebalanceConnection:bool token:bytes`)],
  [T.PRODUCER_ACK, fields(`${command} producerId:nested size:int`)],
  [T.MESSAGE_PULL, fields(`${command} consumerId:cached destination:cached timeout:long correlationId:string messageId:nested`)],
  [T.MESSAGE_DISPATCH, fields(`${command} consumerId:cached destination:cached message:nested redeliveryCounter:int`)],
  [T.MESSAGE_ACK, fields(`${command} destination:cached transactionId:cached consumerId:cached ackType:byte firstMessageId:nested
    lastMessageId:nested messageCount:int poisonCause:throwable`)],
  [T.MESSAGE, fields(message)],
  [T.BYTES_MESSAGE, fields(message)],
  [T.MAP_MESSAGE, fields(message)],
  [T.OBJECT_MESSAGE, fields(message)],
  [T.STREAM_MESSAGE, fields(message)],
  [T.TEXT_MESSAGE, fields(message)],
  [T.BLOB_MESSAGE, fields(`${message} remoteBlobUrl:string mimeType:string deletedByBroker:bool`)],
  [T.RESPONSE, fields(response)],
  [T.EXCEPTION_RESPONSE, fields(`${response} exception:throwable`)],
  [T.DATA_RESPONSE, fields(`${response} data:nested`)],
  [T.DATA_ARRAY_RESPONSE, fields(`${response} data:array`)],
  [T.INTEGER_RESPONSE, fields(`${response} result:int`)],
  [T.DISCOVERY_EVENT, fields('serviceName:string brokerName:string')],
  [T.DURABLE_SUBSCRIPTION_INFO, fields('clientId:string destination:cached selector:string subscriptionName:string subscribedDestination:nested noLocal:bool:11')],
  [T.PARTIAL_COMMAND, fields('commandId:int data:bytes')],
  [T.PARTIAL_LAST_COMMAND, fields('commandId:int data:bytes')],
  [T.REPLAY, fields(`${command} firstNakNumber:int lastNakNumber:int`)],
  [T.MESSAGE_DISPATCH_NOTIFICATION, fields(`${command} consumerId:cached destination:cached deliverySequenceId:long messageId:nested`)],
  [T.NETWORK_BRIDGE_FILTER, fields('networkBrokerId:cached messageTtl:int:10 consumerTtl:int:10')],
  [T.BROKER_SUBSCRIPTION_INFO, fields(`${command} brokerId:nested:12 brokerName:string:12 subscriptionInfos:array:12`)],
  [T.QUEUE, fields('physicalName:string')],
  [T.TOPIC, fields('physicalName:string')],
  [T.TEMP_QUEUE, fields('physicalName:string')],
  [T.TEMP_TOPIC, fields('physicalName:string')],
  [T.MESSAGE_ID, fields('textView:string:10 producerId:cached producerSequenceId:long brokerSequenceId:long')],
  [T.LOCAL_TRANSACTION_ID, fields('value:long connectionId:cached')],
  [T.XA_TRANSACTION_ID, fields('formatId:int globalTransactionId:bytes branchQualifier:bytes')],
  [T.CONNECTION_ID, fields('value:string')],
  [T.SESSION_ID, fields('connectionId:string value:long')],
  [T.CONSUMER_ID, fields('connectionId:string sessionId:long value:long')],
  [T.PRODUCER_ID, fields('connectionId:string value:long sessionId:long')],
  [T.BROKER_ID, fields('value:string')],
]);

export const MESSAGE_TYPES: ReadonlySet<number> = new Set([T.MESSAGE, T.BYTES_MESSAGE, T.MAP_MESSAGE, T.OBJECT_MESSAGE, T.STREAM_MESSAGE, T.TEXT_MESSAGE, T.BLOB_MESSAGE]);

const destinations = [T.QUEUE, T.TOPIC, T.TEMP_QUEUE, T.TEMP_TOPIC];
const transactionIds = [T.LOCAL_TRANSACTION_ID, T.XA_TRANSACTION_ID];

/**
 * The data structure types a nested field may hold, by the field's name, which means one kind of
 * structure in every structure that has it (ActiveMQ's marshallers cast each to its class, and
 * close the connection on a ClassCastException). A structure of another type there is a malformed
 * command, refused as it is read. A nested field not named here (a RemoveInfo's objectId, a
 * message's dataStructure, a DataResponse's data) may hold any structure.
 */
export const nestedTypes: ReadonlyMap<string, ReadonlySet<number>> = new Map(
  ([
    ['connectionId', [T.CONNECTION_ID]],
    ['sessionId', [T.SESSION_ID]],
    ['consumerId', [T.CONSUMER_ID]],
    ['targetConsumerId', [T.CONSUMER_ID]],
    ['producerId', [T.PRODUCER_ID]],
    ['brokerId', [T.BROKER_ID]],
    ['networkBrokerId', [T.BROKER_ID]],
    ['messageId', [T.MESSAGE_ID]],
    ['firstMessageId', [T.MESSAGE_ID]],
    ['lastMessageId', [T.MESSAGE_ID]],
    ['transactionId', transactionIds],
    ['originalTransactionId', transactionIds],
    ['destination', destinations],
    ['originalDestination', destinations],
    ['replyTo', destinations],
    ['subscribedDestination', destinations],
    ['message', [...MESSAGE_TYPES]],
  ] as [string, readonly number[]][]).map(([name, types]) => [name, new Set(types)]),
);

export const ACK = { DELIVERED: 0, POISON: 1, STANDARD: 2, REDELIVERED: 3, INDIVIDUAL: 4, UNMATCHED: 5, EXPIRED: 6 } as const;

export const TX = { BEGIN: 0, PREPARE: 1, COMMIT_ONE_PHASE: 2, COMMIT_TWO_PHASE: 3, ROLLBACK: 4, RECOVER: 5, FORGET: 6, END: 7 } as const;

// The structures the session works with, as the codec hands them over.

export interface ConnectionId extends DataStructure { value: string }
export interface SessionId extends DataStructure { connectionId: string; value: number }
export interface ProducerId extends DataStructure { connectionId: string; value: number; sessionId: number }
export interface ConsumerId extends DataStructure { connectionId: string; sessionId: number; value: number }
export interface WireDestination extends DataStructure { physicalName: string | null }
export interface MessageId extends DataStructure {
  textView: string | null;
  producerId: ProducerId | null;
  producerSequenceId: number;
  brokerSequenceId: number;
}
export interface LocalTransactionId extends DataStructure { value: number; connectionId: ConnectionId | null }
export interface XaTransactionId extends DataStructure { formatId: number; globalTransactionId: Buffer | null; branchQualifier: Buffer | null }
export type TransactionId = LocalTransactionId | XaTransactionId;

export interface BaseCommand extends DataStructure { commandId: number; responseRequired: boolean }

export interface WireMessage extends BaseCommand {
  producerId: ProducerId | null;
  destination: WireDestination | null;
  transactionId: TransactionId | null;
  originalDestination: WireDestination | null;
  messageId: MessageId | null;
  originalTransactionId: TransactionId | null;
  groupId: string | null;
  groupSequence: number;
  correlationId: string | null;
  persistent: boolean;
  expiration: number | bigint;
  priority: number;
  replyTo: WireDestination | null;
  timestamp: number;
  jmsType: string | null;
  content: Buffer | null;
  marshalledProperties: Buffer | null;
  dataStructure: DataStructure | null;
  targetConsumerId: ConsumerId | null;
  compressed: boolean;
  redeliveryCounter: number;
  brokerPath: DataStructure[] | null;
  arrival: number;
  userId: string | null;
  receivedByDfBridge: boolean;
  droppable: boolean;
  cluster: DataStructure[] | null;
  brokerInTime: number;
  brokerOutTime: number;
  jmsxGroupFirstForConsumer: boolean;
}

export interface ConnectionInfo extends BaseCommand {
  connectionId: ConnectionId | null;
  clientId: string | null;
  password: string | null;
  userName: string | null;
  clientIp: string | null;
}
export interface SessionInfo extends BaseCommand { sessionId: SessionId | null }
export interface ProducerInfo extends BaseCommand { producerId: ProducerId | null; destination: WireDestination | null; windowSize: number }
export interface ConsumerInfo extends BaseCommand {
  consumerId: ConsumerId | null;
  browser: boolean;
  destination: WireDestination | null;
  prefetchSize: number;
  selector: string | null;
  subscriptionName: string | null;
  noLocal: boolean;
  exclusive: boolean;
  retroactive: boolean;
  priority: number;
  noRangeAcks: boolean;
}
export interface RemoveInfo extends BaseCommand { objectId: DataStructure | null; lastDeliveredSequenceId: number }
export interface RemoveSubscriptionInfo extends BaseCommand { connectionId: ConnectionId | null; subscriptionName: string | null; clientId: string | null }
export interface TransactionInfo extends BaseCommand { connectionId: ConnectionId | null; transactionId: TransactionId | null; transactionType: number }
export interface DestinationInfo extends BaseCommand { connectionId: ConnectionId | null; destination: WireDestination | null; operationType: number }
export interface MessageAck extends BaseCommand {
  destination: WireDestination | null;
  transactionId: TransactionId | null;
  consumerId: ConsumerId | null;
  ackType: number;
  firstMessageId: MessageId | null;
  lastMessageId: MessageId | null;
  messageCount: number;
  poisonCause: WireThrowable | null;
}
export interface MessagePull extends BaseCommand { consumerId: ConsumerId | null; destination: WireDestination | null; timeout: number }
export interface ConsumerControl extends BaseCommand { consumerId: ConsumerId | null; prefetch: number; close: boolean; start: boolean; stop: boolean }
export interface WireFormatInfo extends DataStructure { magic: Buffer; version: number; marshalledProperties: Buffer | null }
