import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectAmqp, rhea, type AmqpTestClient } from '../helpers/amqp.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';
import { RawStompClient } from '../helpers/raw-stomp.js';

let broker: TestBroker;
let amqp: AmqpTestClient;
let stomp: StompTestClient;
before(async () => {
  broker = await startBroker();
  amqp = await connectAmqp(broker.amqpPort);
  stomp = await connectStomp(broker.stompPort);
});
after(async () => {
  await amqp.close();
  await stomp.disconnect();
  await broker.stop();
});

let counter = 0;
function unique(name: string): string {
  return `cross.${name}.${Date.now().toString(36)}${counter++}`;
}

/** Sends a STOMP text message (no content-length, so ActiveMQ's rule makes it text) and waits for its receipt. */
async function stompSendText(destination: string, body: string, headers: Record<string, string> = {}): Promise<void> {
  const receipt = `send-${counter++}`;
  const confirmed = new Promise<void>((resolve) => stomp.client.watchForReceipt(receipt, () => resolve()));
  stomp.client.publish({ destination, body, headers: { ...headers, receipt }, skipContentLengthHeader: true });
  await confirmed;
}

/** Waits until a STOMP subscription is in place (its SUBSCRIBE has a receipt). */
async function stompSubscribe(destination: string, headers: Record<string, string> = {}): Promise<ReturnType<StompTestClient['subscribe']>> {
  const receipt = `sub-${counter++}`;
  const confirmed = new Promise<void>((resolve) => stomp.client.watchForReceipt(receipt, () => resolve()));
  const inbox = stomp.subscribe(destination, { ...headers, receipt });
  await confirmed;
  return inbox;
}

test('a message sent over AMQP is received over STOMP with its properties', async () => {
  const q = unique('a2s');
  const inbox = await stompSubscribe(`/queue/${q}`);
  const expires = Date.now() + 60_000;
  await amqp.send(await amqp.openSender(q), {
    durable: true,
    priority: 6,
    absolute_expiry_time: new Date(expires),
    message_id: 'amqp-id-1',
    correlation_id: 'corr-1',
    subject: 'greeting',
    reply_to: `topic://${q}.replies`,
    content_type: 'text/plain',
    application_properties: { region: 'eu', count: 3, ok: true },
    body: 'hello from AMQP',
  });
  const m = await inbox.next();
  assert.equal(m.body, 'hello from AMQP');
  assert.equal(m.headers['message-id'], 'amqp-id-1');
  assert.equal(m.headers['destination'], `/queue/${q}`);
  assert.equal(m.headers['persistent'], 'true');
  assert.equal(m.headers['priority'], '6');
  assert.equal(m.headers['expires'], String(expires));
  assert.equal(m.headers['correlation-id'], 'corr-1');
  assert.equal(m.headers['type'], 'greeting');
  assert.equal(m.headers['reply-to'], `/topic/${q}.replies`);
  assert.equal(m.headers['content-type'], 'text/plain');
  assert.equal(m.headers['region'], 'eu');
  assert.equal(m.headers['count'], '3');
  assert.equal(m.headers['ok'], 'true');
  assert.equal(m.headers['content-length'], undefined, 'text stays text');
});

test('a message sent over STOMP is received over AMQP with its properties', async () => {
  const q = unique('s2a');
  const { inbox } = await amqp.openReceiver(q);
  await stompSendText(`/queue/${q}`, 'hello from STOMP', {
    persistent: 'true',
    priority: '2',
    'correlation-id': 'corr-2',
    type: 'greeting',
    'reply-to': `/queue/${q}.replies`,
    region: 'us',
  });
  const { message } = await inbox.next();
  assert.equal(message.body, 'hello from STOMP');
  assert.equal(message.durable, true);
  assert.equal(message.priority, 2);
  assert.equal(message.correlation_id, 'corr-2');
  assert.equal(message.subject, 'greeting');
  assert.equal(message.reply_to, `${q}.replies`);
  assert.equal(message.to, q);
  assert.equal(message.application_properties?.['region'], 'us');
  assert.equal(message.message_annotations?.['x-opt-jms-msg-type'], 5);
});

test('bytes cross both ways as bytes', async () => {
  const q = unique('bytes');
  const inbox = await stompSubscribe(`/queue/${q}`);
  await amqp.send(await amqp.openSender(q), { body: rhea.message.data_section(Buffer.from([0, 1, 2, 255])) });
  const m = await inbox.next();
  assert.deepEqual(Buffer.from(m.binaryBody), Buffer.from([0, 1, 2, 255]));
  assert.equal(m.headers['content-length'], '4');

  const back = unique('bytes-back');
  const { inbox: amqpIn } = await amqp.openReceiver(back);
  stomp.client.publish({ destination: `/queue/${back}`, binaryBody: new Uint8Array([9, 8, 7]) });
  const { message } = await amqpIn.next();
  assert.deepEqual((message.body as { content: Buffer }).content, Buffer.from([9, 8, 7]));
  assert.equal(message.message_annotations?.['x-opt-jms-msg-type'], 3);
});

test('a reply to an AMQP temporary queue can be sent from STOMP', async () => {
  const { receiver, inbox } = await amqp.openReceiver({ source: { address: '', dynamic: true } });
  const requests = unique('requests');
  const stompIn = await stompSubscribe(`/queue/${requests}`);
  await amqp.send(await amqp.openSender(requests), { body: 'question', reply_to: receiver.source.address });
  const request = await stompIn.next();
  assert.match(request.headers['reply-to'] ?? '', /^\/remote-temp-queue\//);
  await stompSendText(request.headers['reply-to']!, 'answer');
  assert.equal((await inbox.next()).message.body, 'answer');
});

test('AMQP and MQTT: a message crosses each way with its body and properties', async () => {
  const { connectMqtt } = await import('../helpers/mqtt.js');
  const topic = unique('a2m');
  const mqtt = await connectMqtt(broker.mqttPort, { protocolVersion: 5 });
  try {
    await mqtt.subscribe(`${topic.replaceAll('.', '/')}/#`, { qos: 1 });
    await amqp.send(await amqp.openSender(`topic://${topic}.temperature`), {
      durable: true,
      content_type: 'text/plain',
      application_properties: { unit: 'C' },
      body: '21.5',
    });
    const got = await mqtt.inbox.next();
    assert.equal(got.topic, `${topic.replaceAll('.', '/')}/temperature`);
    assert.equal(got.payload, '21.5');
    assert.equal(got.packet.qos, 1, 'a durable AMQP message is a QoS 1 delivery');
    assert.deepEqual({ ...got.packet.properties?.userProperties }, { unit: 'C' });

    const back = unique('m2a');
    const { inbox } = await amqp.openReceiver({ source: { address: `topic://${back}.humidity` } });
    await mqtt.publish(`${back.replaceAll('.', '/')}/humidity`, '40%', { qos: 1, properties: { userProperties: { sensor: 'kitchen' } } });
    const m = await inbox.next();
    // MQTT payloads are bytes: they arrive as an AMQP data section
    assert.deepEqual((m.message.body as { content: Buffer }).content, Buffer.from('40%'));
    assert.equal(m.message.application_properties?.['sensor'], 'kitchen');
    assert.equal(m.message.durable, true, 'a QoS 1 publish is durable');
  } finally {
    await mqtt.end();
  }
});

test('STOMP 1.1 ack:client of an id that several AMQP messages share acknowledges them all, up to the newest', async () => {
  const q = unique('same-ids');
  const { raw } = await RawStompClient.connected(broker.stompPort, { 'accept-version': '1.1' });
  await raw.sendWithReceipt('SUBSCRIBE', { id: 's', destination: `/queue/${q}`, ack: 'client' });
  const sender = await amqp.openSender(q);
  for (let i = 0; i < 3; i++) await amqp.send(sender, { message_id: 'same', body: `m${i}` });
  const delivered = [await raw.nextFrameOf('MESSAGE'), await raw.nextFrameOf('MESSAGE'), await raw.nextFrameOf('MESSAGE')];
  assert.deepEqual(delivered.map((f) => f.headers.get('message-id')), ['same', 'same', 'same']);
  await raw.sendWithReceipt('ACK', { 'message-id': 'same', subscription: 's' });
  const stats = broker.server.broker.stats().queues.find((s) => s.name === q)!;
  assert.deepEqual([stats.pending, stats.inFlight], [0, 0], 'all three acknowledged');
  raw.destroy();
});

test('Qpid JMS\'s relay send to a topic (a bare "to" and x-opt-jms-dest 1) reaches the topic\'s STOMP and AMQP subscribers, and makes no queue', async () => {
  const properties = amqp.connection.remote.open?.properties as Record<string, unknown> | undefined;
  assert.deepEqual([properties?.['queue-prefix'], properties?.['topic-prefix']], ['queue://', 'topic://'], 'the prefixes Qpid JMS writes addresses with');
  const t = unique('relay-topic');
  const stompIn = await stompSubscribe(`/topic/${t}`);
  const { inbox } = await amqp.openReceiver(`topic://${t}`);
  const relay = await amqp.openSender({ target: {} });
  const dest = (code: number): Record<string, unknown> => ({ 'x-opt-jms-dest': rhea.types.wrap_byte(code) });
  assert.equal((await amqp.send(relay, { to: t, message_annotations: dest(1), body: 'to the topic' })).state, 'accepted');
  const got = await stompIn.next();
  assert.equal(got.body, 'to the topic');
  assert.equal(got.headers['destination'], `/topic/${t}`);
  const { message } = await inbox.next();
  assert.equal(message.to, `topic://${t}`);
  assert.equal(message.message_annotations?.['x-opt-jms-dest'], 1);
  assert.equal(broker.server.broker.stats().queues.some((q) => q.name === t), false, 'no queue of the topic\'s name');

  const q = unique('relay-queue');
  const queueIn = await stompSubscribe(`/queue/${q}`);
  assert.equal((await amqp.send(relay, { to: q, message_annotations: dest(0), body: 'to the queue' })).state, 'accepted');
  assert.equal((await queueIn.next()).headers['destination'], `/queue/${q}`);
});

test('a bare reply-to with Qpid JMS\'s x-opt-jms-reply-to 1 is a topic for every consumer, and the annotation comes back as that name', async () => {
  const q = unique('reply-type');
  const stompIn = await stompSubscribe(`/queue/${q}`);
  const sender = await amqp.openSender(q);
  await amqp.send(sender, { reply_to: `${q}.answers`, message_annotations: { 'x-opt-jms-reply-to': rhea.types.wrap_byte(1) }, body: 'question' });
  assert.equal((await stompIn.next()).headers['reply-to'], `/topic/${q}.answers`);

  const back = unique('reply-type-back');
  const { inbox } = await amqp.openReceiver(back);
  await amqp.send(await amqp.openSender(back), { reply_to: `${q}.answers`, message_annotations: { 'x-opt-jms-reply-to': rhea.types.wrap_byte(1) }, body: 'question' });
  const { message } = await inbox.next();
  assert.equal(message.reply_to, `topic://${q}.answers`);
  assert.equal(message.message_annotations?.['x-opt-jms-reply-to'], 1);
  assert.equal(message.message_annotations?.['x-opt-jms-reply-type'], undefined);
});

test('data bodies are read by content-type or Qpid JMS\'s x-opt-jms-msg-type: text reaches STOMP as text, and AMQP consumers get each back in a data section with the type its sender gave', async () => {
  const q = unique('data-kinds');
  const stompIn = await stompSubscribe(`/queue/${q}`);
  const sender = await amqp.openSender(q);
  const data = (bytes: Buffer): unknown => rhea.message.data_section(bytes);
  const serialized = Buffer.from('aced00057400026869', 'hex');
  const sent = [
    { content_type: 'application/x-java-serialized-object', message_annotations: { 'x-opt-jms-msg-type': rhea.types.wrap_byte(1) }, body: data(serialized) },
    { content_type: 'text/plain; charset=utf-8', body: data(Buffer.from('héllo')) },
    { message_annotations: { 'x-opt-jms-msg-type': rhea.types.wrap_byte(5) }, body: data(Buffer.from('by type')) },
    { content_type: 'application/json', message_annotations: { 'x-opt-jms-msg-type': rhea.types.wrap_byte(3) }, body: data(Buffer.from('{}')) },
  ];
  for (const message of sent) assert.equal((await amqp.send(sender, message)).state, 'accepted');
  const stomp = await stompIn.take(4);
  assert.deepEqual(stomp.map((m) => m.headers['content-length'] !== undefined), [true, false, false, true], 'only the text ones are text');
  assert.deepEqual([stomp[1]!.body, stomp[2]!.body], ['héllo', 'by type']);

  const back = unique('data-kinds-back');
  const { inbox } = await amqp.openReceiver(back);
  const again = await amqp.openSender(back);
  for (const message of sent) await amqp.send(again, message);
  const received = (await inbox.take(4)).map((r) => r.message);
  assert.deepEqual(received.map((m) => m.message_annotations?.['x-opt-jms-msg-type']), [1, 5, 5, 3]);
  assert.deepEqual(received.map((m) => (m.body as { content: Buffer }).content), [serialized, Buffer.from('héllo'), Buffer.from('by type'), Buffer.from('{}')]);
  assert.deepEqual(received.map((m) => m.content_type), ['application/x-java-serialized-object', 'text/plain; charset=utf-8', undefined, 'application/json']);
});

test('group-sequence 4294967295, Qpid JMS\'s JMSXGroupSeq -1, closes the group: its next message may go to another consumer, STOMP reads -1 and a selector on -1 takes it', async () => {
  const q = unique('group-close');
  const { receiver, inbox: owner } = await amqp.openReceiver({ source: q, credit_window: 0, autoaccept: false });
  receiver.add_credit(2);
  const sender = await amqp.openSender(q);
  await amqp.send(sender, { group_id: 'G', group_sequence: 1, body: 'first' });
  await amqp.send(sender, { group_id: 'G', group_sequence: 4294967295, body: 'closing' });
  const held = await owner.take(2);
  assert.deepEqual(held.map((r) => r.message.group_sequence), [1, 4294967295], 'an AMQP consumer gets the uint back');

  // the owner holds both unsettled and has no credit left: only a closed group lets another consumer have the next
  const other = await stompSubscribe(`/queue/${q}`);
  await amqp.send(sender, { group_id: 'G', group_sequence: 1, body: 'after the close' });
  assert.equal((await other.next()).body, 'after the close');

  const s = unique('group-close-selector');
  const closing = await stompSubscribe(`/queue/${s}`, { selector: 'JMSXGroupSeq = -1' });
  const toSelector = await amqp.openSender(s);
  await amqp.send(toSelector, { group_id: 'G', group_sequence: 2, body: 'open' });
  await amqp.send(toSelector, { group_id: 'G', group_sequence: 4294967295, body: 'closing' });
  const m = await closing.next();
  assert.equal(m.body, 'closing');
  assert.equal(m.headers['JMSXGroupSeq'], '-1');
});
