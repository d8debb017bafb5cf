import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Channel, ChannelModel } from 'amqplib';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Raw091, bodyFrame, connect091, consumeInto, type AmqplibInbox } from '../helpers/amqp091.js';
import { PROTOCOL_HEADER, encodeContentHeader, encodeProperties } from '../../src/protocols/amqp091/frames.js';
import { encodeMethod } from '../../src/protocols/amqp091/methods.js';

let broker: TestBroker;
/** A connection that must carry on whatever the others do. */
let bystander: ChannelModel;
let bystanderChannel: Channel;
let bystanderInbox: AmqplibInbox;
let sent = 0;
const QUEUE = 'bad-input.bystander';

before(async () => {
  broker = await startBroker();
  bystander = await connect091(broker.amqpPort);
  bystanderChannel = await bystander.createChannel();
  await bystanderChannel.assertQueue(QUEUE);
  bystanderInbox = (await consumeInto(bystanderChannel, QUEUE, { noAck: true })).inbox;
});
after(async () => {
  await bystander.close();
  await broker.stop();
});

/** The bystander still sends and receives: one more message through its own queue. */
async function bystanderCarriesOn(): Promise<void> {
  const body = `alive-${sent++}`;
  bystanderChannel.sendToQueue(QUEUE, Buffer.from(body));
  assert.equal((await bystanderInbox.next()).content.toString(), body);
}

describe('protocol header', () => {
  test('another AMQP version gets the 0-9-1 header back, then the socket closes', async () => {
    const raw = await Raw091.open(broker.amqpPort);
    raw.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 1, 1, 8, 0]));
    await raw.closed;
    assert.deepEqual(raw.received, PROTOCOL_HEADER);
    await bystanderCarriesOn();
  });

  test('a 0-9-1 header on the AMQP port starts a 0-9-1 connection (connection.start)', async () => {
    const raw = await Raw091.open(broker.amqpPort);
    raw.write(PROTOCOL_HEADER);
    const start = await raw.method();
    assert.deepEqual([start.classId, start.methodId, start.args[0], start.args[1]], [10, 10, 0, 9]);
    raw.socket.destroy();
  });

  test('garbage that is not AMQP closes that connection only', async () => {
    const raw = await Raw091.open(broker.amqpPort);
    raw.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await raw.closed;
    await bystanderCarriesOn();
  });
});

describe('connection exceptions close that connection only', () => {
  test('a frame over frame-max is 501 FRAME_ERROR, refused from its size', async () => {
    const raw = await Raw091.ready(broker.amqpPort, 4096);
    raw.send(1, 'basic.publish', { ticket: 0, exchange: '', routingKey: QUEUE, mandatory: false, immediate: false });
    raw.write(encodeContentHeader(1, 10_000, encodeProperties({})));
    // announce 10,000 bytes in one body frame, but send only its header: the broker must not wait for the rest
    raw.write(bodyFrame(1, Buffer.alloc(10_000)).subarray(0, 7));
    const close = await raw.close();
    assert.equal(close.channel, 0);
    assert.equal(close.replyCode, 501);
    raw.send(0, 'connection.close-ok', {});
    await raw.closed;
    await bystanderCarriesOn();
  });

  test('a bad frame end is 501 FRAME_ERROR', async () => {
    const raw = await Raw091.ready(broker.amqpPort);
    const f = encodeMethod(1, 'basic.qos', { prefetchSize: 0, prefetchCount: 1, global: false });
    f[f.length - 1] = 0x00;
    raw.write(f);
    assert.equal((await raw.close()).replyCode, 501);
    await raw.closed;
    await bystanderCarriesOn();
  });

  test('an unknown class or method is 540 NOT_IMPLEMENTED', async () => {
    const raw = await Raw091.ready(broker.amqpPort);
    raw.write(Buffer.from([1, 0, 1, 0, 0, 0, 4, 0, 77, 0, 1, 0xce]));
    const close = await raw.close();
    assert.equal(close.replyCode, 540);
    await raw.closed;
    await bystanderCarriesOn();
  });

  test('a method whose fields run past its frame is 502 SYNTAX_ERROR', async () => {
    const raw = await Raw091.ready(broker.amqpPort);
    // queue.declare with a queue name claiming 200 bytes in a 9-byte payload
    raw.write(Buffer.from([1, 0, 1, 0, 0, 0, 9, 0, 50, 0, 10, 0, 0, 200, 0x71, 0x71, 0xce]));
    assert.equal((await raw.close()).replyCode, 502);
    await raw.closed;
    await bystanderCarriesOn();
  });

  test('a method only servers send is 503 COMMAND_INVALID', async () => {
    const raw = await Raw091.ready(broker.amqpPort);
    raw.write(encodeMethod(1, 'basic.deliver', { consumerTag: 'x', deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'q' }));
    assert.equal((await raw.close()).replyCode, 503);
    await raw.closed;
  });

  test('a method on a channel that is not open is 504 CHANNEL_ERROR', async () => {
    const raw = await Raw091.ready(broker.amqpPort);
    raw.send(7, 'basic.qos', { prefetchSize: 0, prefetchCount: 1, global: false });
    assert.equal((await raw.close()).replyCode, 504);
    await raw.closed;
  });

  test('a method where content was expected is 505 UNEXPECTED_FRAME', async () => {
    const raw = await Raw091.ready(broker.amqpPort);
    raw.send(1, 'basic.publish', { ticket: 0, exchange: '', routingKey: QUEUE, mandatory: false, immediate: false });
    raw.send(1, 'basic.qos', { prefetchSize: 0, prefetchCount: 1, global: false });
    const close = await raw.close();
    assert.equal(close.replyCode, 505);
    await raw.closed;
    await bystanderCarriesOn();
  });

  test('a virtual host other than / is 530 NOT_ALLOWED naming connection.open', async () => {
    const raw = await Raw091.open(broker.amqpPort);
    raw.write(PROTOCOL_HEADER);
    await raw.method();
    raw.send(0, 'connection.start-ok', { clientProperties: new Map(), mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US' });
    await raw.method();
    raw.send(0, 'connection.tune-ok', { channelMax: 0, frameMax: 4096, heartbeat: 0 });
    raw.send(0, 'connection.open', { virtualHost: 'elsewhere', capabilities: '', insist: false });
    const close = await raw.close();
    assert.deepEqual([close.replyCode, close.classId, close.methodId], [530, 10, 40]);
  });

  test('the broker closes with 320 CONNECTION_FORCED when it stops', async () => {
    const own = await startBroker();
    const raw = await Raw091.ready(own.amqpPort);
    const closing = raw.close();
    const stopping = own.stop();
    assert.equal((await closing).replyCode, 320);
    raw.send(0, 'connection.close-ok', {});
    await stopping;
  });
});

describe('heartbeats', () => {
  test('a client silent for two heartbeat intervals is disconnected; the broker sends heartbeats meanwhile', async () => {
    const raw = await Raw091.open(broker.amqpPort);
    raw.write(PROTOCOL_HEADER);
    await raw.method();
    raw.send(0, 'connection.start-ok', { clientProperties: new Map(), mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US' });
    await raw.method();
    raw.send(0, 'connection.tune-ok', { channelMax: 0, frameMax: 4096, heartbeat: 1 });
    raw.send(0, 'connection.open', { virtualHost: '/', capabilities: '', insist: false });
    await raw.method();
    const heartbeat = await raw.frames.next(3000);
    assert.equal(heartbeat.type, 8);
    await raw.closed;
    await bystanderCarriesOn();
  });
});

describe('channel exceptions close that channel only', () => {
  test('a 404 names the class and method; the connection and its other channels carry on', async () => {
    const raw = await Raw091.ready(broker.amqpPort);
    raw.send(2, 'channel.open', { outOfBand: '' });
    await raw.method();
    raw.send(1, 'queue.declare', { ticket: 0, queue: 'no.such.queue', passive: true, durable: false, exclusive: false, autoDelete: false, noWait: false, arguments: new Map() });
    const close = await raw.close();
    assert.deepEqual([close.channel, close.replyCode, close.classId, close.methodId], [1, 404, 50, 10]);
    raw.send(1, 'channel.close-ok', {});
    raw.send(2, 'queue.declare', { ticket: 0, queue: QUEUE, passive: true, durable: false, exclusive: false, autoDelete: false, noWait: false, arguments: new Map() });
    const ok = await raw.method();
    assert.deepEqual([ok.channel, ok.classId, ok.methodId], [2, 50, 11]);
    raw.socket.destroy();
  });

  test('a channel the client closes while the broker closes it for an error ends alone: the closes cross, the connection carries on (amqplib)', async () => {
    const conn = await connect091(broker.amqpPort);
    try {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      // an application that acknowledges a tag it never got, then closes its channel in a finally
      ch.ack({ fields: { deliveryTag: 42 } } as never);
      await ch.close().catch(() => {});
      const other = await conn.createChannel();
      assert.equal((await other.checkQueue(QUEUE)).queue, QUEUE);
      await other.close();
    } finally {
      await conn.close();
    }
    await bystanderCarriesOn();
  });
});

describe('fuzzing', () => {
  test('mutated valid frames never take the broker down; every bystander message arrives', async () => {
    const valid = Buffer.concat([
      encodeMethod(1, 'queue.declare', { ticket: 0, queue: 'fuzz', passive: false, durable: false, exclusive: false, autoDelete: true, noWait: false, arguments: new Map([['x-max-length', 10]]) }),
      encodeMethod(1, 'basic.publish', { ticket: 0, exchange: '', routingKey: 'fuzz', mandatory: true, immediate: false }),
      encodeContentHeader(1, 5, encodeProperties({ contentType: 'text/plain', headers: new Map([['a', new Map([['b', [1, 'c']]])]]), deliveryMode: 2 })),
      bodyFrame(1, Buffer.from('hello')),
      encodeMethod(1, 'basic.consume', { ticket: 0, queue: 'fuzz', consumerTag: '', noLocal: false, noAck: false, exclusive: false, noWait: false, arguments: new Map() }),
      encodeMethod(1, 'basic.ack', { deliveryTag: 1, multiple: true }),
    ]);
    const mutations = fc.array(fc.tuple(fc.nat(valid.length - 1), fc.nat(255)), { minLength: 1, maxLength: 6 });
    const runs = fc.sample(mutations, 40);
    for (const changes of runs) {
      const bytes = Buffer.from(valid);
      for (const [at, value] of changes) bytes[at] = value;
      const raw = await Raw091.ready(broker.amqpPort);
      raw.write(bytes);
      // the broker reads every byte before it sees the end of the stream, whatever it makes of them
      raw.socket.end();
      await raw.closed;
      await bystanderCarriesOn();
    }
    assert.equal(bystanderInbox.size, 0);
  });
});
