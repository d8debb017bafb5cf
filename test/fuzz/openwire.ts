import { ACK, T, TX, type DataStructure } from '../../src/protocols/openwire/commands.js';
import { DataWriter } from '../../src/protocols/openwire/data-stream.js';
import { LooseCodec } from '../../src/protocols/openwire/marshal.js';
import { writeTypedMap } from '../../src/protocols/openwire/primitives.js';
import type { LengthField, Seed } from './mutate.js';
import type { FuzzTarget, Reply } from './target.js';

/**
 * OpenWire, from the broker's own encoder: valid commands of the loose encoding Ferry negotiates,
 * mutated, before and after the WireFormatInfo exchange.
 */

const codec = new LooseCodec(12);
/** Every command starts with its size: the length the splitter trusts before reading anything else. */
const SIZE: LengthField = { at: 0, kind: 'uint', width: 4, outer: true };

function command(name: string, structure: DataStructure): Seed {
  return { name, bytes: codec.encode(structure), lengths: [SIZE] };
}

const connectionId = 'ID:fuzz-openwire-1';
const sessionId = { type: T.SESSION_ID, connectionId, value: 1 };
const producerId = { type: T.PRODUCER_ID, connectionId, value: 1, sessionId: 1 };
const consumerId = { type: T.CONSUMER_ID, connectionId, sessionId: 1, value: 1 };
const queue = { type: T.QUEUE, physicalName: 'fuzz.openwire' };
const messageId = (n: number): DataStructure => ({ type: T.MESSAGE_ID, textView: null, producerId, producerSequenceId: n, brokerSequenceId: 0 });
const localTx = { type: T.LOCAL_TRANSACTION_ID, value: 1, connectionId: { type: T.CONNECTION_ID, value: connectionId } };
const base = (commandId: number, responseRequired = true): { commandId: number; responseRequired: boolean } => ({ commandId, responseRequired });

function typedMap(entries: [string, { t: 'boolean'; v: boolean } | { t: 'long'; v: bigint } | { t: 'string'; v: string } | { t: 'int'; v: number }][]): Buffer {
  const writer = new DataWriter();
  writeTypedMap(writer, new Map(entries));
  return writer.finish();
}

/** A TextMessage's content: the text's length, then its (modified) UTF-8. */
function text(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const out = Buffer.alloc(4 + bytes.length);
  out.writeInt32BE(bytes.length, 0);
  bytes.copy(out, 4);
  return out;
}

const message = (n: number, extra: Record<string, unknown> = {}): DataStructure => ({
  type: T.TEXT_MESSAGE,
  ...base(100 + n),
  producerId,
  destination: queue,
  transactionId: null,
  originalDestination: null,
  messageId: messageId(n),
  originalTransactionId: null,
  groupId: null,
  groupSequence: 0,
  correlationId: null,
  persistent: true,
  expiration: 0,
  priority: 4,
  replyTo: null,
  timestamp: 1_700_000_000_000,
  jmsType: null,
  content: text('hello'),
  marshalledProperties: typedMap([['colour', { t: 'string', v: 'red' }], ['weight', { t: 'int', v: 7 }]]),
  dataStructure: null,
  targetConsumerId: null,
  compressed: false,
  redeliveryCounter: 0,
  brokerPath: null,
  arrival: 0,
  userId: null,
  receivedByDfBridge: false,
  droppable: false,
  cluster: null,
  brokerInTime: 0,
  brokerOutTime: 0,
  jmsxGroupFirstForConsumer: false,
  ...extra,
});

const handshake: Seed[] = [
  command('WireFormatInfo', {
    type: T.WIREFORMAT_INFO,
    magic: Buffer.from('ActiveMQ', 'latin1'),
    version: 12,
    // no inactivity checks: a case's connection may sit quiet while it waits for the rest of a command
    marshalledProperties: typedMap([['TightEncodingEnabled', { t: 'boolean', v: false }], ['CacheEnabled', { t: 'boolean', v: false }], ['MaxInactivityDuration', { t: 'long', v: 0n }]]),
  }),
  command('ConnectionInfo', { type: T.CONNECTION_INFO, ...base(1), connectionId: { type: T.CONNECTION_ID, value: connectionId }, clientId: null, password: null, userName: null, brokerPath: null, clientIp: null }),
];

const seeds: Seed[] = [
  command('SessionInfo', { type: T.SESSION_INFO, ...base(2), sessionId }),
  command('ProducerInfo', { type: T.PRODUCER_INFO, ...base(3), producerId, destination: queue, brokerPath: null, dispatchAsync: false, windowSize: 1024 }),
  command('ConsumerInfo', {
    type: T.CONSUMER_INFO, ...base(4), consumerId, browser: false, destination: queue, prefetchSize: 10, maximumPendingMessageLimit: 0, dispatchAsync: true,
    selector: "colour = 'red' AND weight > 5", clientId: null, subscriptionName: null, noLocal: false, exclusive: false, retroactive: false, priority: 0,
    brokerPath: null, additionalPredicate: null, networkSubscription: false, optimizedAcknowledge: false, noRangeAcks: false, networkConsumerPath: null,
  }),
  command('TextMessage', message(1)),
  command('TextMessage (topic, transacted)', message(2, { destination: { type: T.TOPIC, physicalName: 'fuzz.openwire.topic' }, transactionId: localTx, responseRequired: false })),
  command('MessageAck', { type: T.MESSAGE_ACK, ...base(5), destination: queue, transactionId: null, consumerId, ackType: ACK.STANDARD, firstMessageId: messageId(1), lastMessageId: messageId(1), messageCount: 1, poisonCause: null }),
  command('MessageAck (poison)', { type: T.MESSAGE_ACK, ...base(6), destination: queue, transactionId: null, consumerId, ackType: ACK.POISON, firstMessageId: messageId(1), lastMessageId: messageId(2), messageCount: 2, poisonCause: { className: 'java.lang.Exception', message: 'bad' } }),
  command('TransactionInfo (begin)', { type: T.TRANSACTION_INFO, ...base(7), connectionId: { type: T.CONNECTION_ID, value: connectionId }, transactionId: localTx, transactionType: TX.BEGIN }),
  command('TransactionInfo (commit)', { type: T.TRANSACTION_INFO, ...base(8), connectionId: { type: T.CONNECTION_ID, value: connectionId }, transactionId: localTx, transactionType: TX.COMMIT_ONE_PHASE }),
  command('DestinationInfo', { type: T.DESTINATION_INFO, ...base(9), connectionId: { type: T.CONNECTION_ID, value: connectionId }, destination: { type: T.TEMP_QUEUE, physicalName: `${connectionId}:1:1` }, operationType: 0, timeout: 0, brokerPath: null }),
  command('MessagePull', { type: T.MESSAGE_PULL, ...base(10), consumerId, destination: queue, timeout: 0, correlationId: null, messageId: null }),
  command('RemoveInfo (consumer)', { type: T.REMOVE_INFO, ...base(11), objectId: consumerId, lastDeliveredSequenceId: -1 }),
  command('RemoveSubscriptionInfo', { type: T.REMOVE_SUBSCRIPTION_INFO, ...base(12), connectionId: { type: T.CONNECTION_ID, value: connectionId }, subscriptionName: 'sub', clientId: 'fuzz' }),
  command('KeepAliveInfo', { type: T.KEEP_ALIVE_INFO, ...base(13, false) }),
];

const PROBE_ID = 0x7eadbeef;

/** The commands of a stream by their size prefix: each one's type and bytes. */
function commands(bytes: Buffer): { type: number; body: Buffer }[] {
  const out: { type: number; body: Buffer }[] = [];
  let at = 0;
  while (at + 5 <= bytes.length) {
    const size = bytes.readInt32BE(at);
    if (size < 1 || at + 4 + size > bytes.length) break;
    out.push({ type: bytes[at + 4]!, body: bytes.subarray(at + 4, at + 4 + size) });
    at += 4 + size;
  }
  return out;
}

/**
 * A ConnectionError or an ExceptionResponse says why, with the Ferry code in its message; a
 * Response to the probe's ConnectionControl (type byte, commandId, responseRequired, then the
 * correlation id) answers it, whatever version was agreed.
 */
function readOpenWire(received: Buffer): Reply {
  const errors: string[] = [];
  let probeAnswered = false;
  for (const c of commands(received)) {
    if (c.type === T.CONNECTION_ERROR || c.type === T.EXCEPTION_RESPONSE) {
      const code = /\((FERRY_[A-Z0-9_]+)\)/.exec(c.body.toString('latin1'))?.[1] ?? '(no code)';
      errors.push(`${c.type === T.CONNECTION_ERROR ? 'ConnectionError' : 'ExceptionResponse'} ${code}`);
    }
    if (c.type === T.RESPONSE && c.body.length >= 10 && c.body.readInt32BE(6) === PROBE_ID) probeAnswered = true;
  }
  return { errors, probeAnswered };
}

const probe = codec.encode({ type: T.CONNECTION_CONTROL, ...base(PROBE_ID), close: false, exit: false, faultTolerant: false, resume: false, suspend: false, connectedBrokers: null, reconnectTo: null, rebalanceConnection: false, token: null });

export const openWireTarget: FuzzTarget = {
  name: 'openwire',
  listener: 'openwire',
  handshake,
  seeds,
  handshakeDone: (received) => readOpenWire(received).probeAnswered || commands(received).some((c) => c.type === T.RESPONSE && c.body.length >= 10 && c.body.readInt32BE(6) === 1),
  probe,
  read: readOpenWire,
  // before the WireFormatInfo is agreed there is no encoding to say anything in: the socket is
  // closed; after it a ConnectionError says why, unless the case sent a ShutdownInfo: whole, or cut
  // short and made whole by the probe's first bytes, which the broker rightly reads as its rest
  errorDue: (phase, sent) => phase === 'after' && !commands(Buffer.concat([sent, probe])).some((c) => c.type === T.SHUTDOWN_INFO),
};
