import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { T, type DataStructure } from '../../src/protocols/openwire/commands.js';
import { DataWriter } from '../../src/protocols/openwire/data-stream.js';
import { CommandSplitter, LooseCodec } from '../../src/protocols/openwire/marshal.js';
import { writeTypedMap } from '../../src/protocols/openwire/primitives.js';
import { connectAmqp } from '../helpers/amqp.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { connectStomp } from '../helpers/stomp.js';

/**
 * OpenWire's bytes on a raw socket, for what no well-behaved client sends: garbage, oversized
 * commands, commands only a broker may send. The JMS behaviour is tested with ActiveMQ's own client
 * (test/interop/openwire-jms.test.ts).
 */

const codec = new LooseCodec(12);

interface RawClient {
  readonly socket: Socket;
  next(): Promise<DataStructure>;
  /** Resolves once the broker has closed the socket. */
  readonly ended: Promise<void>;
  send(structure: DataStructure): void;
}

function rawClient(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const received: DataStructure[] = [];
    const waiting: ((s: DataStructure) => void)[] = [];
    const splitter = new CommandSplitter(1 << 24, (buffer, start, end) => {
      const command = codec.decode(buffer, start, end)!;
      const waiter = waiting.shift();
      if (waiter !== undefined) waiter(command);
      else received.push(command);
    });
    socket.on('data', (chunk) => splitter.push(chunk));
    const ended = new Promise<void>((done) => socket.on('close', () => done()));
    socket.on('error', () => {});
    socket.once('connect', () =>
      resolve({
        socket,
        ended,
        send: (structure) => socket.write(codec.encode(structure)),
        next: () => {
          const command = received.shift();
          if (command !== undefined) return Promise.resolve(command);
          return new Promise((r) => waiting.push(r));
        },
      }),
    );
    socket.once('error', reject);
  });
}

function clientWireFormat(maxInactivityDuration = 0n): DataStructure {
  const writer = new DataWriter();
  writeTypedMap(writer, new Map([
    ['TightEncodingEnabled', { t: 'boolean', v: true }],
    ['CacheEnabled', { t: 'boolean', v: true }],
    ['MaxInactivityDuration', { t: 'long', v: maxInactivityDuration }],
  ]));
  return { type: T.WIREFORMAT_INFO, magic: Buffer.from('ActiveMQ'), version: 12, marshalledProperties: writer.finish() };
}

/** As ActiveMQ's client does: its WireFormatInfo first, without waiting (on the shared port the broker waits for it). */
async function negotiated(port: number, maxInactivityDuration = 0n): Promise<RawClient> {
  const client = await rawClient(port);
  client.send(clientWireFormat(maxInactivityDuration));
  assert.equal((await client.next()).type, T.WIREFORMAT_INFO);
  assert.equal((await client.next()).type, T.BROKER_INFO);
  return client;
}

let broker: TestBroker;
/** Opens a connection, a session and a consumer on `queue` for a raw client (commands 1 to 3, each asking for a Response). */
function openRawConsumer(client: RawClient, connectionId: string, queue: string, prefetchSize: number): { consumerId: DataStructure; destination: DataStructure } {
  client.send({ type: T.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: connectionId } });
  client.send({ type: T.SESSION_INFO, commandId: 2, responseRequired: true, sessionId: { type: T.SESSION_ID, connectionId, value: 1 } });
  const consumerId = { type: T.CONSUMER_ID, connectionId, sessionId: 1, value: 1 };
  const destination = { type: T.QUEUE, physicalName: queue };
  client.send({ type: T.CONSUMER_INFO, commandId: 3, responseRequired: true, consumerId, destination, prefetchSize });
  return { consumerId, destination };
}

const logLines: Record<string, unknown>[] = [];

before(async () => {
  broker = await startBroker({ 'openwire.maxFrameSize': 4096 }, { logLines });
});

after(async () => {
  await broker.stop();
});

test('the broker offers loose encoding without the cache, so a client that prefers tight encoding still speaks loose', async () => {
  const client = await rawClient(broker.ports.openwire);
  client.send(clientWireFormat());
  const offer = await client.next();
  const properties = (offer['marshalledProperties'] as Buffer).toString('latin1');
  assert.equal(offer['version'], 12);
  for (const name of ['TightEncodingEnabled', 'CacheEnabled', 'StackTraceEnabled']) {
    const at = properties.indexOf(name);
    assert.ok(at > 0, name);
    // the name, then the boolean type (1) and false (0)
    assert.deepEqual([...Buffer.from(properties.slice(at + name.length, at + name.length + 2), 'latin1')], [1, 0], name);
  }
  assert.equal((await client.next()).type, T.BROKER_INFO);
  client.send({ type: T.KEEP_ALIVE_INFO, commandId: 1, responseRequired: true });
  assert.equal((await client.next()).type, T.KEEP_ALIVE_INFO);
  client.socket.destroy();
});

test('bytes that are not OpenWire close that connection only', async () => {
  const bystander = await negotiated(broker.ports.openwire);
  const client = await rawClient(broker.ports.openwire);
  client.socket.write('GET / HTTP/1.1\r\n\r\n');
  await client.ended;
  bystander.send({ type: T.KEEP_ALIVE_INFO, commandId: 1, responseRequired: true });
  assert.equal((await bystander.next()).type, T.KEEP_ALIVE_INFO);
  bystander.socket.destroy();
});

test('a MaxInactivityDuration longer than a Node timer holds keeps its meaning: no KeepAliveInfo every millisecond', async () => {
  // a third of it is still past 2^31-1 ms, where a Node timer would fire after 1 ms
  const duration = 7_000_000_000;
  const patient = await startBroker({ 'openwire.maxInactivityDuration': duration, 'openwire.maxInactivityDurationInitialDelay': 0 });
  try {
    const client = await negotiated(patient.ports.openwire, BigInt(duration));
    await new Promise((resolve) => setTimeout(resolve, 300));
    client.send({ type: T.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: 'ID:patient-1' } });
    const first = await client.next();
    assert.equal(first.type, T.RESPONSE, `the first command after 300 ms of silence is the answer, not a command of type ${String(first.type)}`);
    assert.equal(first['correlationId'], 1);
    client.socket.destroy();
  } finally {
    await patient.stop();
  }
});

test('a command over openwire.maxFrameSize is refused from its size prefix with a ConnectionError', async () => {
  const client = await negotiated(broker.ports.openwire);
  const prefix = Buffer.alloc(5);
  prefix.writeInt32BE(4097, 0);
  prefix[4] = T.TEXT_MESSAGE;
  client.socket.write(prefix);
  const error = await client.next();
  assert.equal(error.type, T.CONNECTION_ERROR);
  assert.match(String((error['exception'] as { message: string }).message), /FERRY_OPENWIRE_FRAME_TOO_LARGE/);
  await client.ended;
});

test('a command before ConnectionInfo, or one only a broker sends, ends the connection with a ConnectionError', async () => {
  const early = await negotiated(broker.ports.openwire);
  early.send({ type: T.SESSION_INFO, commandId: 1, responseRequired: true, sessionId: { type: T.SESSION_ID, connectionId: 'ID:x', value: 1 } });
  const error = await early.next();
  assert.equal(error.type, T.CONNECTION_ERROR);
  assert.match(String((error['exception'] as { message: string }).message), /FERRY_OPENWIRE_PROTOCOL/);
  await early.ended;
});

test('an exception sent by a client is never turned into a class: its name is text, and the command is refused', async () => {
  // CVE-2023-46604: ActiveMQ instantiated the class an ExceptionResponse named, with the message as
  // its argument; Ferry's codec reads a Throwable as two strings and a client may not send one at all
  const client = await negotiated(broker.ports.openwire);
  client.send({ type: T.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: 'ID:raw-1' }, clientId: 'raw-1' });
  const ok = await client.next();
  assert.equal(ok.type, T.RESPONSE);
  client.send({
    type: T.EXCEPTION_RESPONSE,
    commandId: 2,
    responseRequired: false,
    correlationId: 1,
    exception: { className: 'org.springframework.context.support.ClassPathXmlApplicationContext', message: 'http://127.0.0.1:1/evil.xml' },
  });
  const error = await client.next();
  assert.equal(error.type, T.CONNECTION_ERROR);
  assert.match(String((error['exception'] as { message: string }).message), /may not send data structure type 31/);
  await client.ended;
});

test('a compressed body that would inflate past openwire.maxFrameSize is refused with an ExceptionResponse, inflating no further; the connection and everyone else carry on', async () => {
  const queue = { type: T.QUEUE, physicalName: 'compressed.bombs' };
  const bystander = await negotiated(broker.ports.openwire);
  const client = await negotiated(broker.ports.openwire);
  client.send({ type: T.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: 'ID:bomber-1' } });
  assert.equal((await client.next()).type, T.RESPONSE);
  /** A TextMessage's content, as the client marshals it before deflating it. */
  const text = (length: number): Buffer => {
    const content = Buffer.alloc(4 + length, 'a');
    content.writeInt32BE(length, 0);
    return content;
  };
  // a BytesMessage's length, then the deflate stream; this one says 100 bytes and inflates to 3 MB
  const bytes = Buffer.concat([Buffer.from([0, 0, 0, 100]), deflateSync(Buffer.alloc(3_000_000))]);
  const sends: [string, number, Buffer][] = [
    ['a text of 1 MB', T.TEXT_MESSAGE, deflateSync(text(1_000_000))],
    ['bytes that say 100 and inflate to 3 MB', T.BYTES_MESSAGE, bytes],
    ['a text within the limit', T.TEXT_MESSAGE, deflateSync(text(3000))],
  ];
  const answers: unknown[] = [];
  for (const [i, [what, type, content]] of sends.entries()) {
    assert.ok(content.length < 4096, `${what} fits a frame`);
    client.send({ type, commandId: 2 + i, responseRequired: true, destination: queue, persistent: false, compressed: true, content });
    const answer = await client.next();
    assert.equal(answer['correlationId'], 2 + i, what);
    answers.push(answer.type === T.EXCEPTION_RESPONSE ? String((answer['exception'] as { message: string }).message).match(/FERRY_\w+/)?.[0] : answer.type);
    bystander.send({ type: T.KEEP_ALIVE_INFO, commandId: i + 1, responseRequired: true });
    assert.equal((await bystander.next()).type, T.KEEP_ALIVE_INFO, what);
  }
  assert.deepEqual(answers, ['FERRY_OPENWIRE_BODY_TOO_LARGE', 'FERRY_OPENWIRE_BODY_TOO_LARGE', T.RESPONSE]);
  assert.equal(broker.server.broker.stats().queues.find((q) => q.name === 'compressed.bombs')?.pending, 1, 'only the one within the limit was taken');
  client.socket.destroy();
  bystander.socket.destroy();
});

test('a structure of another type where an id, destination or message belongs is a malformed command: a ConnectionError, and only that connection closes', async () => {
  const queue = { type: T.QUEUE, physicalName: 'confused.types' };
  const cases: [string, (connectionId: string) => DataStructure][] = [
    ['an acknowledgement whose message id is a topic', (connectionId) => ({
      type: T.MESSAGE_ACK, commandId: 2, responseRequired: true, destination: queue, consumerId: { type: T.CONSUMER_ID, connectionId, sessionId: 1, value: 1 },
      ackType: 2, firstMessageId: null, lastMessageId: { type: T.TOPIC, physicalName: 'confused' }, messageCount: 1,
    })],
    ['a message whose id is a queue', () => ({ type: T.TEXT_MESSAGE, commandId: 2, responseRequired: true, destination: queue, messageId: queue, content: null })],
    ['a consumer whose id is a queue', () => ({ type: T.CONSUMER_INFO, commandId: 2, responseRequired: true, consumerId: queue, destination: queue, prefetchSize: 1 })],
    ['a transaction begun under a queue for its id', (connectionId) => ({
      type: T.TRANSACTION_INFO, commandId: 2, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: connectionId }, transactionId: queue, transactionType: 0,
    })],
  ];
  const bystander = await negotiated(broker.ports.openwire);
  for (const [i, [what, command]] of cases.entries()) {
    const connectionId = `ID:confused-${i}`;
    const client = await negotiated(broker.ports.openwire);
    client.send({ type: T.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: connectionId } });
    assert.equal((await client.next()).type, T.RESPONSE);
    client.send(command(connectionId));
    const error = await client.next();
    assert.equal(error.type, T.CONNECTION_ERROR, what);
    assert.match(String((error['exception'] as { message: string }).message), /FERRY_OPENWIRE_MALFORMED/, what);
    await client.ended;
    bystander.send({ type: T.KEEP_ALIVE_INFO, commandId: i + 1, responseRequired: true });
    assert.equal((await bystander.next()).type, T.KEEP_ALIVE_INFO, what);
  }
  assert.deepEqual(logLines.filter((l) => l['event'] === 'openwire.internal-error'), [], 'none of them is taken for a fault of the broker');
  bystander.socket.destroy();
});

test('the OpenWire port serves STOMP, MQTT and AMQP 1.0 clients too, each told by its first bytes', async () => {
  const port = broker.ports.openwire;
  const stomp = await connectStomp(port);
  const mqtt = await connectMqtt(port);
  const amqp = await connectAmqp(port);
  const inbox = stomp.subscribe('/topic/shared.port');
  await mqtt.subscribe('shared/port', { qos: 1 });
  await stomp.sendConfirmed('/queue/shared.port.sync', 'the subscription is in place once this is confirmed');
  const { inbox: amqpInbox } = await amqp.openReceiver('topic://shared.port');
  const sender = await amqp.openSender('topic://shared.port');
  await amqp.send(sender, { body: 'from AMQP over the OpenWire port' });
  assert.equal((await inbox.next()).body, 'from AMQP over the OpenWire port');
  assert.equal((await amqpInbox.next()).message.body, 'from AMQP over the OpenWire port');
  // MQTT's shared/port is the topic shared.port: one topic, three protocols, one port
  assert.equal(String((await mqtt.inbox.next()).payload), 'from AMQP over the OpenWire port');
  await mqtt.publish('shared/port', 'from MQTT', { qos: 1 });
  assert.equal((await inbox.next()).body, 'from MQTT');
  await Promise.all([stomp.disconnect(), mqtt.end(), amqp.close()]);
});

test('with openwire.detectProtocols off, the port speaks OpenWire alone and a STOMP client is closed', async () => {
  const own = await startBroker({ 'openwire.detectProtocols': false });
  try {
    const client = await rawClient(own.ports.openwire);
    // OpenWire alone: the broker speaks first, without waiting for the client
    assert.equal((await client.next()).type, T.WIREFORMAT_INFO);
    client.socket.write('CONNECT\naccept-version:1.2\n\n\0');
    await client.ended;
  } finally {
    await own.stop();
  }
});

test('mutated commands from many clients close those clients only; a bystander keeps working', async () => {
  const bystander = await negotiated(broker.ports.openwire);
  bystander.send({ type: T.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: 'ID:bystander' }, clientId: 'bystander' });
  assert.equal((await bystander.next()).type, T.RESPONSE);
  const valid = codec.encode({
    type: T.TEXT_MESSAGE,
    commandId: 2,
    responseRequired: true,
    destination: { type: T.QUEUE, physicalName: 'fuzz.q' },
    content: Buffer.from([0, 0, 0, 2, 0x68, 0x69]),
  });
  const runs = fc.sample(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }), { numRuns: 40, seed: 7 });
  for (const flips of runs) {
    const client = await negotiated(broker.ports.openwire);
    client.send({ type: T.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: 'ID:fuzz' }, clientId: null });
    await client.next();
    const bytes = Buffer.from(valid);
    // the size prefix stays: mutations inside the command, which the decoder must refuse or accept
    for (const [at, value] of flips) bytes[4 + (at % (bytes.length - 4))] = value;
    client.socket.write(bytes);
    client.send({ type: T.KEEP_ALIVE_INFO, commandId: 9, responseRequired: true });
    // either the broker answers (the mutation was harmless) or it says why and closes
    for (;;) {
      const answer = await Promise.race([client.next(), client.ended.then(() => undefined)]);
      if (answer === undefined || answer.type === T.KEEP_ALIVE_INFO || answer.type === T.CONNECTION_ERROR) break;
    }
    client.socket.destroy();
  }
  bystander.send({ type: T.KEEP_ALIVE_INFO, commandId: 3, responseRequired: true });
  assert.equal((await bystander.next()).type, T.KEEP_ALIVE_INFO);
  bystander.socket.destroy();
  // a mutation may be refused, never met with a failure of the broker's own
  assert.deepEqual(logLines.filter((line) => line['code'] === 'FERRY_INTERNAL'), []);
});

/** A JMS producer's connection and its numbered persistent text messages to `queue`, as a failover client would send them again. */
function failoverProducer(connection: string, clientId: string, queue: string): { connectionInfo: DataStructure; message: (commandId: number, sequence: number) => DataStructure } {
  const producerId = { type: T.PRODUCER_ID, connectionId: connection, sessionId: 1, value: 1 };
  return {
    connectionInfo: { type: T.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: connection }, clientId },
    message: (commandId, sequence) => ({
      type: T.TEXT_MESSAGE,
      commandId,
      responseRequired: true,
      persistent: true,
      producerId,
      messageId: { type: T.MESSAGE_ID, producerId, producerSequenceId: sequence, brokerSequenceId: 0 },
      destination: { type: T.QUEUE, physicalName: queue },
      content: Buffer.from([0, 0, 0, 2, 0x68, 0x69]),
    }),
  };
}

test('after a restart, a failover resend of a message the broker took before it died is confirmed and not taken twice', async () => {
  const first = await startBroker();
  const dataDir = first.dataDir;
  const { connectionInfo, message } = failoverProducer('ID:failover-producer-1', 'failover', 'failover.audit');
  const before = await negotiated(first.ports.openwire);
  before.send(connectionInfo);
  assert.equal((await before.next()).type, T.RESPONSE);
  for (const sequence of [1, 2, 3]) {
    before.send(message(1 + sequence, sequence));
    assert.equal((await before.next()).type, T.RESPONSE);
  }
  before.socket.destroy();
  await first.server.stop();

  const second = await startBroker({ data: dataDir });
  try {
    const after = await negotiated(second.ports.openwire);
    after.send(connectionInfo);
    assert.equal((await after.next()).type, T.RESPONSE);
    // the client resends 3 (it never saw its confirmation), then goes on with 4
    for (const sequence of [3, 4]) {
      after.send(message(10 + sequence, sequence));
      const answer = await after.next();
      assert.equal(answer.type, T.RESPONSE, `sequence ${sequence} is confirmed`);
    }
    const queue = second.server.broker.stats().queues.find((q) => q.name === 'failover.audit');
    assert.equal(queue?.pending, 4, 'messages 1-4 wait once each');
    after.socket.destroy();
  } finally {
    await second.stop();
  }
});

test('after a restart, a failover resend of a message consumed before it is confirmed and not taken again: the producer audit is kept in the store', async () => {
  const first = await startBroker();
  const dataDir = first.dataDir;
  const { connectionInfo, message } = failoverProducer('ID:failover-producer-2', 'failover-consumed', 'failover.consumed');
  const stomp = await connectStomp(first.stompPort);
  const inbox = stomp.subscribe('/queue/failover.consumed');
  const before = await negotiated(first.ports.openwire);
  before.send(connectionInfo);
  assert.equal((await before.next()).type, T.RESPONSE);
  for (const sequence of [1, 2, 3]) {
    before.send(message(1 + sequence, sequence));
    assert.equal((await before.next()).type, T.RESPONSE);
  }
  for (let i = 0; i < 3; i++) await inbox.next();
  await stomp.disconnect();
  before.socket.destroy();
  await first.server.stop();

  const second = await startBroker({ data: dataDir });
  try {
    const after = await negotiated(second.ports.openwire);
    after.send(connectionInfo);
    assert.equal((await after.next()).type, T.RESPONSE);
    // the client resends 3, consumed before the restart (it never saw its confirmation), then goes on with 4
    for (const sequence of [3, 4]) {
      after.send(message(10 + sequence, sequence));
      assert.equal((await after.next()).type, T.RESPONSE, `sequence ${sequence} is confirmed`);
    }
    const queue = second.server.broker.stats().queues.find((q) => q.name === 'failover.consumed');
    assert.equal(queue?.pending, 1, 'only message 4 waits: 3 was taken, and consumed, before the restart');
    after.socket.destroy();
  } finally {
    await second.stop();
  }
});

test('non-persistent sends keep no sequence mark in the store, yet a resend of one is still dropped while the broker runs', async () => {
  const broker = await startBroker();
  try {
    const { connectionInfo, message } = failoverProducer('ID:failover-producer-3', 'failover-transient', 'failover.transient');
    const transient = (commandId: number, sequence: number): DataStructure => ({ ...message(commandId, sequence), persistent: false });
    const client = await negotiated(broker.ports.openwire);
    client.send(connectionInfo);
    assert.equal((await client.next()).type, T.RESPONSE);
    for (const sequence of [1, 2, 3]) {
      client.send(transient(1 + sequence, sequence));
      assert.equal((await client.next()).type, T.RESPONSE);
    }
    const marks = (): [string, number][] => [...broker.server.broker.sequenceMarks('openwire').entries()].filter(([key]) => key.startsWith('ID:failover-producer-3'));
    assert.deepEqual(marks(), [], 'a message a crash loses anyway needs no mark');
    // resent within the broker's life: the audit in memory knows it
    client.send(transient(10, 2));
    assert.equal((await client.next()).type, T.RESPONSE);
    client.send(message(11, 4));
    assert.equal((await client.next()).type, T.RESPONSE);
    assert.deepEqual(marks(), [['ID:failover-producer-3:1:1', 4]], 'a stored message is marked');
    const queue = broker.server.broker.stats().queues.find((q) => q.name === 'failover.transient');
    assert.equal(queue?.pending, 4, 'messages 1-4 wait once each: the resend of 2 was dropped');
    client.socket.destroy();
  } finally {
    await broker.stop();
  }
});

test('a plain JMS Message (no body) that waited through a restart is dispatched as a plain Message again', async () => {
  const first = await startBroker();
  const connectionId = 'ID:plain-1';
  const producerId = { type: T.PRODUCER_ID, connectionId, sessionId: 1, value: 1 };
  const destination = { type: T.QUEUE, physicalName: 'plain.restart' };
  const connectionInfo = { type: T.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: connectionId } };
  const producer = await negotiated(first.ports.openwire);
  producer.send(connectionInfo);
  assert.equal((await producer.next()).type, T.RESPONSE);
  producer.send({ type: T.MESSAGE, commandId: 2, responseRequired: true, persistent: true, producerId, destination, messageId: { type: T.MESSAGE_ID, producerId, producerSequenceId: 1, brokerSequenceId: 0 } });
  assert.equal((await producer.next()).type, T.RESPONSE);
  producer.socket.destroy();
  await first.server.stop();

  const second = await startBroker({ data: first.dataDir });
  try {
    const consumer = await negotiated(second.ports.openwire);
    consumer.send(connectionInfo);
    assert.equal((await consumer.next()).type, T.RESPONSE);
    const sessionId = { type: T.SESSION_ID, connectionId, value: 1 };
    consumer.send({ type: T.SESSION_INFO, commandId: 2, responseRequired: true, sessionId });
    assert.equal((await consumer.next()).type, T.RESPONSE);
    consumer.send({ type: T.CONSUMER_INFO, commandId: 3, responseRequired: true, consumerId: { type: T.CONSUMER_ID, connectionId, sessionId: 1, value: 1 }, destination, prefetchSize: 10 });
    let dispatch = await consumer.next();
    while (dispatch.type === T.RESPONSE) dispatch = await consumer.next();
    assert.equal(dispatch.type, T.MESSAGE_DISPATCH);
    assert.equal((dispatch['message'] as DataStructure).type, T.MESSAGE, 'a plain Message, not an empty BytesMessage');
    consumer.socket.destroy();
  } finally {
    await second.stop();
  }
});

test('ActiveMQ.Advisory.Queue and .Topic: a JMS advisory consumer hears of every queue and topic, made by any protocol, and of a deleted one', async () => {
  const stomp = await connectStomp(broker.stompPort);
  await stomp.sendConfirmed('/queue/adv.before', 'made before the advisory consumer');
  const connectionId = 'ID:advisory-1';
  const client = await negotiated(broker.ports.openwire);
  client.send({ type: T.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: connectionId } });
  client.send({ type: T.SESSION_INFO, commandId: 2, responseRequired: true, sessionId: { type: T.SESSION_ID, connectionId, value: 1 } });
  client.send({ type: T.CONSUMER_INFO, commandId: 3, responseRequired: true, consumerId: { type: T.CONSUMER_ID, connectionId, sessionId: 1, value: 1 }, destination: { type: T.TOPIC, physicalName: 'ActiveMQ.Advisory.Queue' }, prefetchSize: 1000 });
  const seen: string[] = [];
  /** Reads dispatches until one names `name`: "+name" made, "-name" deleted. */
  const until = async (wanted: string): Promise<void> => {
    while (!seen.includes(wanted)) {
      const command = await client.next();
      if (command.type !== T.MESSAGE_DISPATCH) continue;
      const info = (command['message'] as DataStructure)['dataStructure'] as DataStructure;
      assert.equal(info.type, T.DESTINATION_INFO);
      const destination = info['destination'] as DataStructure;
      assert.equal(destination.type, T.QUEUE);
      seen.push(`${info['operationType'] === 0 ? '+' : '-'}${destination['physicalName'] as string}`);
    }
  };
  await until('+adv.before');
  const amqp = await connectAmqp(broker.amqpPort);
  await amqp.openReceiver('adv.made-by-amqp');
  await until('+adv.made-by-amqp');
  broker.server.broker.admin.deleteDestination('queue', 'adv.made-by-amqp');
  await until('-adv.made-by-amqp');
  assert.ok(!seen.some((s) => s.includes('ActiveMQ.Advisory')), 'advisory topics are not announced');
  client.socket.destroy();
  await amqp.close();
  await stomp.disconnect();
});

test('ActiveMQ.Advisory.Connection: an OpenWire client\'s ConnectionInfo names where it connects from, as ActiveMQ\'s tcp://host:port', { timeout: 30_000 }, async () => {
  const watcherId = 'ID:advisory-ip-watcher';
  const watcher = await negotiated(broker.ports.openwire);
  watcher.send({ type: T.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: watcherId } });
  watcher.send({ type: T.SESSION_INFO, commandId: 2, responseRequired: true, sessionId: { type: T.SESSION_ID, connectionId: watcherId, value: 1 } });
  watcher.send({ type: T.CONSUMER_INFO, commandId: 3, responseRequired: true, consumerId: { type: T.CONSUMER_ID, connectionId: watcherId, sessionId: 1, value: 1 }, destination: { type: T.TOPIC, physicalName: 'ActiveMQ.Advisory.Connection' }, prefetchSize: 1000 });
  const other = await negotiated(broker.ports.openwire);
  other.send({ type: T.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: 'ID:advisory-ip-client' }, clientId: 'ip-client' });
  let info: DataStructure | undefined;
  while (info === undefined) {
    const command = await watcher.next();
    const structure = command.type === T.MESSAGE_DISPATCH ? ((command['message'] as DataStructure)['dataStructure'] as DataStructure) : undefined;
    if (structure?.type === T.CONNECTION_INFO && structure['clientId'] === 'ip-client') info = structure;
  }
  assert.match(String(info['clientIp']), /^tcp:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(info['password'], null);
  other.socket.destroy();
  watcher.socket.destroy();
});

test('ActiveMQ.Advisory.Connection, .Consumer and .Producer: a JMS advisory consumer hears of STOMP, AMQP and MQTT clients, their consumers and producers, and of their going', { timeout: 30_000 }, async () => {
  const connectionId = 'ID:advisory-2';
  const client = await negotiated(broker.ports.openwire);
  client.send({ type: T.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId: { type: T.CONNECTION_ID, value: connectionId } });
  client.send({ type: T.SESSION_INFO, commandId: 2, responseRequired: true, sessionId: { type: T.SESSION_ID, connectionId, value: 1 } });
  const watch = (value: number, topic: string): void =>
    client.send({ type: T.CONSUMER_INFO, commandId: 2 + value, responseRequired: true, consumerId: { type: T.CONSUMER_ID, connectionId, sessionId: 1, value }, destination: { type: T.TOPIC, physicalName: topic }, prefetchSize: 1000 });
  watch(1, 'ActiveMQ.Advisory.Connection');
  watch(2, 'ActiveMQ.Advisory.Consumer.Queue.adv.foreign');
  /** The data structures of the advisories read until `done` says enough, in order. */
  const seen: DataStructure[] = [];
  const until = async (done: () => boolean): Promise<void> => {
    while (!done()) {
      const command = await client.next();
      if (command.type === T.MESSAGE_DISPATCH) seen.push((command['message'] as DataStructure)['dataStructure'] as DataStructure);
    }
  };
  const connectionOf = (info: DataStructure): string | undefined => (info['connectionId'] as DataStructure | undefined)?.['value'] as string | undefined;

  const stomp = await connectStomp(broker.stompPort, { headers: { 'client-id': 'stomp-watched' } });
  await until(() => seen.some((s) => s.type === T.CONNECTION_INFO && s['clientId'] === 'stomp-watched'));
  const stompConnection = seen.find((s) => s.type === T.CONNECTION_INFO && s['clientId'] === 'stomp-watched')!;
  assert.match(String(stompConnection['clientIp']), /^127\.0\.0\.1:\d+$/);

  const inbox = stomp.subscribe('/queue/adv.foreign', { selector: "kind = 'x'" });
  await until(() => seen.some((s) => s.type === T.CONSUMER_INFO));
  const consumer = seen.find((s) => s.type === T.CONSUMER_INFO)!;
  assert.deepEqual(consumer['destination'], { type: T.QUEUE, physicalName: 'adv.foreign' });
  assert.equal(consumer['selector'], "kind = 'x'");
  const consumerId = consumer['consumerId'] as DataStructure;
  assert.equal(consumerId['connectionId'], connectionOf(stompConnection));

  inbox.subscription.unsubscribe();
  const removed = (id: DataStructure): boolean => seen.some((s) => s.type === T.REMOVE_INFO && JSON.stringify(s['objectId']) === JSON.stringify(id));
  await until(() => removed(consumerId));

  // an AMQP 1.0 sending link is a producer of its target
  watch(3, 'ActiveMQ.Advisory.Producer.Queue.adv.foreign');
  const amqp = await connectAmqp(broker.amqpPort);
  const sender = await amqp.openSender('adv.foreign');
  await until(() => seen.some((s) => s.type === T.PRODUCER_INFO));
  const producer = seen.find((s) => s.type === T.PRODUCER_INFO)!;
  assert.deepEqual(producer['destination'], { type: T.QUEUE, physicalName: 'adv.foreign' });
  sender.close();
  await until(() => removed(producer['producerId'] as DataStructure));
  await amqp.close();

  const mqtt = await connectMqtt(broker.mqttPort, { clientId: 'mqtt-watched' });
  await until(() => seen.some((s) => s.type === T.CONNECTION_INFO && s['clientId'] === 'mqtt-watched'));
  await mqtt.end();
  await stomp.disconnect();
  const mqttConnection = seen.find((s) => s.type === T.CONNECTION_INFO && s['clientId'] === 'mqtt-watched')!;
  await until(() => removed(mqttConnection['connectionId'] as DataStructure) && removed(stompConnection['connectionId'] as DataStructure));
  assert.equal(seen.filter((s) => s.type === T.CONNECTION_INFO && connectionOf(s) === connectionId).length, 1, 'the JMS connection is announced once, as its client sent it, not again as another protocol');
  client.socket.destroy();
});

test('an acknowledgement of a message this broker never delivered (a failover client acknowledging what the broker it left had sent) is answered and let go; the consumer goes on', { timeout: 30_000 }, async () => {
  const connectionId = 'ID:failover-acker-1';
  const client = await negotiated(broker.ports.openwire);
  const { consumerId, destination } = openRawConsumer(client, connectionId, 'failover.acks', 10);
  const stomp = await connectStomp(broker.stompPort);
  /** The next command other than a Response to the setup. */
  const nextDispatch = async (): Promise<DataStructure> => {
    for (;;) {
      const command = await client.next();
      if (command.type === T.MESSAGE_DISPATCH) return command;
    }
  };
  const ack = (commandId: number, messageId: DataStructure): DataStructure => ({
    type: T.MESSAGE_ACK, commandId, responseRequired: true, destination, consumerId, ackType: 2, firstMessageId: messageId, lastMessageId: messageId, messageCount: 1,
  });
  const producerId = { type: T.PRODUCER_ID, connectionId: 'ID:old-broker-1', sessionId: 1, value: 1 };
  client.send(ack(10, { type: T.MESSAGE_ID, producerId, producerSequenceId: 303, brokerSequenceId: 0 }));
  let answer = await client.next();
  while (answer['correlationId'] !== 10) answer = await client.next();
  assert.equal(answer.type, T.RESPONSE, 'answered, not refused');

  await stomp.sendConfirmed('/queue/failover.acks', 'after');
  const dispatch = await nextDispatch();
  const message = dispatch['message'] as DataStructure;
  client.send(ack(11, message['messageId'] as DataStructure));
  answer = await client.next();
  while (answer['correlationId'] !== 11) answer = await client.next();
  assert.equal(answer.type, T.RESPONSE);
  assert.equal(broker.server.broker.stats().queues.find((q) => q.name === 'failover.acks')?.pending, 0, 'the real one was acknowledged');
  client.socket.destroy();
  await stomp.disconnect();
});

test('an acknowledgement is matched by the broker sequence its dispatch carried and the rest of the id: a stale id with a reused sequence acknowledges nothing, an id without the sequence still acknowledges', { timeout: 30_000 }, async () => {
  const connectionId = 'ID:sequence-acker-1';
  const queue = 'acks.by-sequence';
  const client = await negotiated(broker.ports.openwire);
  const { consumerId, destination } = openRawConsumer(client, connectionId, queue, 10);
  const stomp = await connectStomp(broker.stompPort);
  await stomp.sendConfirmed(`/queue/${queue}`, 'one');
  await stomp.sendConfirmed(`/queue/${queue}`, 'two');
  const ids: DataStructure[] = [];
  while (ids.length < 2) {
    const command = await client.next();
    if (command.type === T.MESSAGE_DISPATCH && command['message'] !== null) ids.push((command['message'] as DataStructure)['messageId'] as DataStructure);
  }
  const inFlight = (): number | undefined => broker.server.broker.stats().queues.find((q) => q.name === queue)?.inFlight;
  let commandId = 10;
  const acknowledge = async (messageId: DataStructure): Promise<void> => {
    const id = commandId++;
    client.send({ type: T.MESSAGE_ACK, commandId: id, responseRequired: true, destination, consumerId, ackType: 4, firstMessageId: messageId, lastMessageId: messageId, messageCount: 1 });
    let answer = await client.next();
    while (answer['correlationId'] !== id) answer = await client.next();
    assert.equal(answer.type, T.RESPONSE);
  };
  assert.equal(inFlight(), 2);
  // what a failover client may send: an id from the broker it left, whose broker sequence this connection gave the first message
  const stale = { type: T.MESSAGE_ID, producerId: { type: T.PRODUCER_ID, connectionId: 'ID:old-broker-2', sessionId: 1, value: 1 }, producerSequenceId: 999, brokerSequenceId: ids[0]!['brokerSequenceId'] };
  await acknowledge(stale);
  assert.equal(inFlight(), 2, 'the stale id acknowledged nothing');
  // a client that does not send the broker sequence back: the id's text finds the delivery
  await acknowledge({ ...ids[0]!, brokerSequenceId: 0 });
  assert.equal(inFlight(), 1, 'the first message was acknowledged by its id without the sequence');
  await acknowledge(ids[1]!);
  assert.equal(inFlight(), 0, 'the second by the id its dispatch carried');
  client.socket.destroy();
  await stomp.disconnect();
});

test('a ConsumerControl sets the consumer\'s prefetch: a failover client restores a consumer at prefetch 0, then gives it back its prefetch this way', { timeout: 30_000 }, async () => {
  const connectionId = 'ID:failover-restorer-1';
  const queue = 'failover.prefetch';
  const stomp = await connectStomp(broker.stompPort);
  for (let i = 0; i < 3; i++) await stomp.sendConfirmed(`/queue/${queue}`, `waiting ${i}`);
  const client = await negotiated(broker.ports.openwire);
  const { consumerId, destination } = openRawConsumer(client, connectionId, queue, 0);
  for (let answered = 0; answered < 3; ) if ((await client.next()).type === T.RESPONSE) answered++;
  // at prefetch 0 and without a MessagePull nothing is dispatched
  assert.equal(broker.server.broker.stats().queues.find((q) => q.name === queue)?.pending, 3, 'all three still wait');

  client.send({ type: T.CONSUMER_CONTROL, commandId: 4, responseRequired: true, consumerId, destination, prefetch: 10, close: false, flush: false, start: false, stop: false });
  let dispatched = 0;
  let answered = false;
  while (dispatched < 3 || !answered) {
    const command = await client.next();
    if (command.type === T.RESPONSE && command['correlationId'] === 4) answered = true;
    else if (command.type === T.MESSAGE_DISPATCH && command['message'] !== null) dispatched++;
  }
  assert.equal(broker.server.broker.stats().queues.find((q) => q.name === queue)?.pending, 0, 'the three waiting messages went out once the prefetch was back');
  client.socket.destroy();
  await stomp.disconnect();
});
