import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { jmsCheck, jmsMissing, one } from '../helpers/jms.js';
import { startSecureBroker } from '../helpers/security.js';
import { connectStomp } from '../helpers/stomp.js';
import type { Message } from 'rhea';
import { connectAmqp, rhea } from '../helpers/amqp.js';
import { connect091, consumeInto } from '../helpers/amqp091.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { eventually } from '../helpers/raw-stomp.js';

/**
 * ActiveMQ's own JMS client (activemq-client from Debian's libactivemq-java) where Ferry's other
 * protocols and its own features meet JMS. The JMS behaviour itself, against Ferry and ActiveMQ
 * alike, is in openwire-jms.test.ts.
 */
const skip = jmsMissing();

describe('ActiveMQ JMS client with the rest of Ferry', { skip }, () => {
  let broker: TestBroker;
  let url: string;

  before(async () => {
    broker = await startBroker();
    url = `tcp://127.0.0.1:${broker.ports.openwire}`;
  });

  after(async () => {
    await broker?.stop();
  });

  test('advisories tell a watcher of consumers coming and going', async () => {
    const result = await jmsCheck(url, 'advisories', 'jms.watched');
    assert.equal(one(result, 'added'), 'ConsumerInfo 1');
    assert.equal(one(result, 'removed'), 'RemoveInfo 0');
  });

  test('a selector that does not parse is an InvalidSelectorException, and the connection carries on', async () => {
    const result = await jmsCheck(url, 'bad-selector', 'jms.selector');
    assert.equal(one(result, 'badSelector'), 'InvalidSelectorException');
    assert.equal(one(result, 'after'), 'still here');
  });

  test('ActiveMQ\'s scheduler management with the client\'s own constants: BROWSE to a temporary queue, REMOVE by scheduledJobId, REMOVEALL', async () => {
    const result = await jmsCheck(url, 'scheduler', 'jms.scheduled');
    assert.equal(one(result, 'browse'), 'first,second');
    assert.equal(one(result, 'browseIds'), true);
    assert.equal(one(result, 'afterRemove'), 'second');
    assert.equal(one(result, 'afterRemoveAll'), '');
  });

  test('a temporary topic goes with its delete() or its connection, leaving no topic behind', async () => {
    const result = await jmsCheck(url, 'temporary-topics', '20');
    assert.equal(one(result, 'received'), 40);
    const temporary = (): string[] => broker.server.broker.stats().topics.map((t) => t.name).filter((name) => name.startsWith('ID:'));
    await eventually('the temporary topics are gone', () => temporary().length === 0);
  });

  test('a JMS TextMessage reaches STOMP as text; STOMP sends reach JMS as text, or bytes with content-length', async () => {
    const stomp = await connectStomp(broker.stompPort);
    const inbox = stomp.subscribe('/queue/jms.cross.out');
    await stomp.sendConfirmed('/queue/jms.cross.out', 'warm-up');
    assert.equal((await inbox.next()).body, 'warm-up');
    await jmsCheck(url, 'produce', 'jms.cross.out', '2');
    assert.deepEqual([(await inbox.next()).body, (await inbox.next()).body], ['1', '2']);
    // @stomp/stompjs adds content-length unless told not to
    stomp.client.publish({ destination: '/queue/jms.cross.in', body: 'as text', skipContentLengthHeader: true });
    stomp.client.publish({ destination: '/queue/jms.cross.in', binaryBody: new Uint8Array([1, 2]) });
    await stomp.sendConfirmed('/queue/jms.cross.in', 'with content-length');
    const result = await jmsCheck(url, 'count', 'jms.cross.in');
    assert.equal(one(result, 'texts'), 'as text,ActiveMQBytesMessage,ActiveMQBytesMessage');
    await stomp.disconnect();
  });

  test('from AMQP 1.0: a header longer than JMS can carry is left out, not the broker taken down; uint and timestamp properties read as Long', async () => {
    const amqp = await connectAmqp(broker.amqpPort);
    try {
      const sender = await amqp.openSender('jms.from-amqp');
      const long = 'c'.repeat(70_000);
      const outcome = await amqp.send(sender, {
        correlation_id: long,
        subject: long,
        application_properties: { aUint: rhea.types.wrap_uint(4_000_000_000), aTimestamp: new Date(1_700_000_000_000), [`p${long}`]: 'a name too long for JMS' },
        body: 'fits',
      });
      assert.equal(outcome.state, 'accepted');
    } finally {
      await amqp.close();
    }
    const result = await jmsCheck(url, 'describe', 'jms.from-amqp', 'aUint', 'aTimestamp');
    assert.equal(one(result, 'correlationId'), 'null');
    assert.equal(one(result, 'type'), 'null');
    assert.equal(one(result, 'aUint'), 'Long:4000000000');
    assert.equal(one(result, 'aUint.long'), 4_000_000_000);
    assert.equal(one(result, 'aTimestamp'), 'Long:1700000000000');
  });

  test('from AMQP 1.0: a bare reply-to with Qpid JMS\'s x-opt-jms-reply-to is the JMSReplyTo of that type', async () => {
    const amqp = await connectAmqp(broker.amqpPort);
    try {
      const sender = await amqp.openSender('jms.reply-types');
      for (const code of [1, 0]) {
        const outcome = await amqp.send(sender, { reply_to: 'jms.answers', message_annotations: { 'x-opt-jms-reply-to': rhea.types.wrap_byte(code) }, body: `type ${code}` });
        assert.equal(outcome.state, 'accepted');
      }
    } finally {
      await amqp.close();
    }
    assert.equal(one(await jmsCheck(url, 'describe', 'jms.reply-types'), 'replyTo'), 'topic://jms.answers');
    assert.equal(one(await jmsCheck(url, 'describe', 'jms.reply-types'), 'replyTo'), 'queue://jms.answers');
  });

  test('AMQP 1.0 data bodies reach JMS by content-type, as ActiveMQ reads them, and a JMS ObjectMessage relayed by an AMQP client is one again', async () => {
    const amqp = await connectAmqp(broker.amqpPort);
    try {
      const sender = await amqp.openSender('jms.data-bodies');
      const data = (bytes: Buffer): unknown => rhea.message.data_section(bytes);
      const sent = [
        // a Java-serialized String "hi", as Qpid JMS sends an ObjectMessage
        { content_type: 'application/x-java-serialized-object', message_annotations: { 'x-opt-jms-msg-type': rhea.types.wrap_byte(1) }, body: data(Buffer.from('aced00057400026869', 'hex')) },
        { content_type: 'text/plain; charset=utf-8', body: data(Buffer.from('héllo')) },
        { content_type: 'application/json', body: data(Buffer.from('{"a":1}')) },
        { content_type: 'application/octet-stream', body: data(Buffer.from([1, 2, 3])) },
        { body: data(Buffer.from([4, 5])) },
        { content_type: 'text/plain; charset=iso-8859-1', body: data(Buffer.from('h\xe9', 'latin1')) },
      ];
      for (const message of sent) assert.equal((await amqp.send(sender, message)).state, 'accepted');

      await jmsCheck(url, 'send-kinds', 'jms.kinds.out');
      const kinds = (await (await amqp.openReceiver('jms.kinds.out')).inbox.take(6)).map((r) => r.message);
      const relay = await amqp.openSender('jms.kinds.back');
      // the text, the object and the bytes message, as an AMQP client that forwards what it got sends them
      for (const m of [kinds[0]!, kinds[2]!, kinds[5]!]) {
        const forwarded: Message = { body: m.body };
        if (m.content_type !== undefined) forwarded.content_type = m.content_type;
        if (m.message_annotations !== undefined) forwarded.message_annotations = m.message_annotations;
        const outcome = await amqp.send(relay, forwarded);
        assert.equal(outcome.state, 'accepted');
      }
    } finally {
      await amqp.close();
    }
    const result = await jmsCheck(url, 'read-kinds', 'jms.data-bodies', '6');
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((i) => `${String(one(result, `${i}.class`))} ${String(one(result, `${i}.body`))}`),
      ['ObjectMessage hi', 'TextMessage héllo', 'TextMessage {"a":1}', 'BytesMessage length 3', 'BytesMessage length 2', 'BytesMessage length 2'],
    );
    const relayed = await jmsCheck(url, 'read-kinds', 'jms.kinds.back', '3');
    assert.deepEqual(
      [0, 1, 2].map((i) => `${String(one(relayed, `${i}.class`))} ${String(one(relayed, `${i}.body`))}`),
      ['TextMessage typed', 'ObjectMessage [an, object]', 'BytesMessage length 3'],
    );
  });

  test('AMQP 1.0 and 0-9-1 messages that share a message id all reach a JMS consumer on a failover: URL, none suppressed as a duplicate, each JMSMessageID the id its client gave', async () => {
    const amqp = await connectAmqp(broker.amqpPort);
    try {
      const sender = await amqp.openSender('jms.same-ids');
      for (let i = 0; i < 3; i++) assert.equal((await amqp.send(sender, { message_id: 'msg-1', body: `amqp ${i}` })).state, 'accepted');
    } finally {
      await amqp.close();
    }
    const rabbit = await connect091(broker.amqpPort);
    const channel = await rabbit.createConfirmChannel();
    for (let i = 0; i < 2; i++) channel.sendToQueue('jms.same-ids', Buffer.from(`091 ${i}`), { messageId: 'msg-1' });
    await channel.waitForConfirms();
    await rabbit.close();
    const result = await jmsCheck(`failover:(${url})`, 'count', 'jms.same-ids');
    assert.equal(one(result, 'count'), 5, String(one(result, 'texts')));
    assert.equal(broker.server.broker.stats().queues.find((q) => q.name === 'ActiveMQ.DLQ')?.pending ?? 0, 0, 'nothing suppressed to the dead-letter queue');
  });

  test('compressed JMS messages (useCompression), also ones that inflate past a megabyte, reach STOMP and JMS consumers whole', async () => {
    const stomp = await connectStomp(broker.stompPort);
    const inbox = stomp.subscribe('/queue/jms.compressed');
    await stomp.sendConfirmed('/queue/jms.compressed', 'warm-up');
    assert.equal((await inbox.next()).body, 'warm-up');
    const result = await jmsCheck(url, 'send-compressed', 'jms.compressed');
    const long = Buffer.from(Array.from({ length: 3_000_000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(''));
    const bytes = Buffer.from(Array.from({ length: 2_000_000 }, (_, i) => i % 251));
    const expected = [Buffer.from('compressed text'), long, bytes].map((b) => `${b.length} ${createHash('sha256').update(b).digest('hex')}`);
    assert.deepEqual(result.get('jms'), expected);
    const viaStomp: string[] = [];
    for (let i = 0; i < 3; i++) {
      const frame = await inbox.next();
      const body = Buffer.from(frame.binaryBody);
      viaStomp.push(`${body.length} ${createHash('sha256').update(body).digest('hex')}`);
    }
    assert.deepEqual(viaStomp, expected);
    await stomp.disconnect();
  });

  test('JMS MapMessage and StreamMessage reach AMQP 1.0 as a map and a list, and AMQP maps and lists reach JMS as them, every value keeping its type', async () => {
    await jmsCheck(url, 'typed-send', 'jms.typed.to-amqp');
    const amqp = await connectAmqp(broker.amqpPort);
    try {
      const receiver = await amqp.openReceiver('jms.typed.to-amqp');
      const [map, stream] = (await receiver.inbox.take(2)).map((r) => r.message);
      assert.equal(map!.message_annotations?.['x-opt-jms-msg-type'], 2, 'a MapMessage');
      // rhea reads an AMQP char as its code point: 120 is the char 'x', where a string would read 'x'
      assert.deepEqual(
        { ...(map!.body as Record<string, unknown>), someBytes: [...(map!.body as { someBytes: Buffer }).someBytes] },
        { aBoolean: true, aByte: 7, aShort: 300, aChar: 120, anInt: 70000, aLong: 5000000000, aFloat: 1.5, aDouble: 2.25, aString: 'text', someBytes: [1, 2] },
      );
      assert.equal(stream!.message_annotations?.['x-opt-jms-msg-type'], 4, 'a StreamMessage');
      const items = stream!.body as unknown[];
      assert.deepEqual(items.slice(0, 9), [true, 7, 300, 120, 70000, 5000000000, 1.5, 2.25, 'text']);
      assert.deepEqual([...(items[9] as Buffer)], [1, 2]);

      const sender = await amqp.openSender('jms.typed.from-amqp');
      const t = rhea.types;
      const values = [t.wrap_boolean(true), t.wrap_byte(7), t.wrap_short(300), t.wrap_char('x'.codePointAt(0)!), t.wrap_int(70000), t.wrap_long(5000000000), t.wrap_float(1.5), t.wrap_double(2.25), t.wrap_string('text'), t.wrap_binary(Buffer.from([1, 2])), t.wrap_uint(4000000000)];
      const names = ['aBoolean', 'aByte', 'aShort', 'aChar', 'anInt', 'aLong', 'aFloat', 'aDouble', 'aString', 'someBytes', 'aUint'];
      const entries: Record<string, unknown> = {};
      names.forEach((name, i) => (entries[name] = values[i]));
      assert.equal((await amqp.send(sender, { body: t.wrap_map(entries) })).state, 'accepted');
      assert.equal((await amqp.send(sender, { body: t.wrap_list(values) })).state, 'accepted');
    } finally {
      await amqp.close();
    }
    const result = await jmsCheck(url, 'typed-read', 'jms.typed.from-amqp', '2');
    const expected = ['Boolean:true', 'Byte:7', 'Short:300', 'Character:x', 'Integer:70000', 'Long:5000000000', 'Float:1.5', 'Double:2.25', 'String:text', 'byte[]:[1, 2]', 'Long:4000000000'];
    assert.equal(one(result, '0.type'), 'MapMessage');
    const names = ['aBoolean', 'aByte', 'aShort', 'aChar', 'anInt', 'aLong', 'aFloat', 'aDouble', 'aString', 'someBytes', 'aUint'];
    assert.deepEqual(
      names.map((name) => one(result, `0.${name}`)),
      expected,
    );
    assert.equal(one(result, '1.type'), 'StreamMessage');
    assert.deepEqual(
      expected.map((_, i) => one(result, `1.${i}`)),
      expected,
    );
  });

  test('a 0-9-1 publish\'s JMSXGroupID and JMSXGroupSeq headers are the JMS message\'s group', async () => {
    const rabbit = await connect091(broker.amqpPort);
    const channel = await rabbit.createConfirmChannel();
    await channel.assertQueue('jms.group091');
    channel.sendToQueue('jms.group091', Buffer.from('grouped'), { headers: { JMSXGroupID: 'gg', JMSXGroupSeq: 2, other: 'o' } });
    await channel.waitForConfirms();
    await rabbit.close();
    const result = await jmsCheck(url, 'describe', 'jms.group091', 'JMSXGroupID', 'JMSXGroupSeq', 'other');
    assert.deepEqual([one(result, 'JMSXGroupID'), one(result, 'JMSXGroupSeq'), one(result, 'other')], ['String:gg', 'Integer:2', 'String:o']);
  });

  test('to AMQP 0-9-1 and MQTT 5: a header or property longer than the protocol carries is left out, and the broker and the producer carry on', async () => {
    const long = 'c'.repeat(300);
    const stomp = await connectStomp(broker.stompPort);
    const rabbit = await connect091(broker.amqpPort);
    const channel = await rabbit.createChannel();
    await channel.assertQueue('long.headers');
    const { inbox: rabbitInbox } = await consumeInto(channel, 'long.headers', { noAck: true });
    const mqtt = await connectMqtt(broker.mqttPort, { protocolVersion: 5 });
    await mqtt.subscribe('long/headers', { qos: 1 });
    await stomp.sendConfirmed('/queue/long.headers', 'to 0-9-1', { 'correlation-id': long, type: long, [long]: 'a name over 255 bytes', kept: 'yes' });
    const got = await rabbitInbox.next();
    assert.equal(got.content.toString(), 'to 0-9-1');
    assert.equal(got.properties.correlationId, undefined);
    assert.equal(got.properties.type, undefined);
    assert.equal(got.properties.headers?.['kept'], 'yes');
    assert.equal(Object.keys(got.properties.headers ?? {}).some((name) => name.length > 255), false);
    const amqp = await connectAmqp(broker.amqpPort);
    try {
      const sender = await amqp.openSender('topic://long.headers');
      for (const body of ['first', 'second']) {
        assert.equal((await amqp.send(sender, { application_properties: { big: 'v'.repeat(70_000), kept: 'yes' }, body })).state, 'accepted');
      }
    } finally {
      await amqp.close();
    }
    const received = await mqtt.inbox.take(2);
    assert.deepEqual(received.map((m) => m.payload), ['first', 'second']);
    assert.deepEqual({ ...received[0]!.packet.properties?.userProperties }, { kept: 'yes' });
    await Promise.all([stomp.disconnect(), mqtt.end(), rabbit.close()]);
  });

  test('a reply to a 0-9-1 requester\'s exclusive server-named queue once the requester has gone is ActiveMQ\'s DestinationDoesNotExistException (an InvalidDestinationException), as to a gone temporary queue, and makes no queue', async () => {
    const stomp = await connectStomp(broker.ports.stomp);
    await stomp.sendConfirmed('/queue/jms.late.temporary', 'request', { 'reply-to': '/temp-queue/replies' });
    await stomp.disconnect();
    const temporary = await jmsCheck(url, 'reply', 'jms.late.temporary');
    assert.match(String(one(temporary, 'replyTo')), /^temp-queue:\/\/ID:/);
    assert.equal(one(temporary, 'refused'), 'DestinationDoesNotExistException');

    const requester = await connect091(broker.amqpPort);
    const ch = await requester.createChannel();
    const { queue: replyQueue } = await ch.assertQueue('', { exclusive: true });
    await ch.assertQueue('jms.late.exclusive');
    ch.sendToQueue('jms.late.exclusive', Buffer.from('request'), { replyTo: replyQueue, correlationId: 'late' });
    // the request is in place before its requester goes
    assert.equal((await ch.checkQueue('jms.late.exclusive')).messageCount, 1);
    await requester.close();
    const exclusive = await jmsCheck(url, 'reply', 'jms.late.exclusive');
    assert.equal(one(exclusive, 'replyTo'), `queue://${replyQueue}`);
    assert.equal(one(exclusive, 'refused'), 'DestinationDoesNotExistException');
    assert.ok(!broker.server.broker.stats().queues.some((q) => q.name === replyQueue));
  });
});

describe('ActiveMQ JMS client with users and permissions', { skip }, () => {
  test('a wrong password is a JMSSecurityException; rights are checked per destination', async () => {
    const broker = await startSecureBroker();
    try {
      const url = `tcp://127.0.0.1:${broker.ports.openwire}`;
      const wrong = await jmsCheck(url, 'login', 'admin', 'not-the-password', 'secure.q');
      assert.equal(one(wrong, 'connect'), 'JMSSecurityException');
      const admin = await jmsCheck(url, 'login', 'admin', 'admin-secret', 'secure.q');
      assert.equal(one(admin, 'connect'), 'ok');
      assert.equal(one(admin, 'send'), 'ok');
      const reader = await jmsCheck(url, 'login', 'reader', 'reader-secret', 'secure.q');
      assert.equal(one(reader, 'send'), 'JMSSecurityException');
      assert.equal(one(reader, 'receive'), 'nothing');
      const elsewhere = await jmsCheck(url, 'login', 'reader', 'reader-secret', 'other.q');
      assert.equal(one(elsewhere, 'receive'), 'JMSSecurityException');
    } finally {
      await broker.stop();
    }
  });
});
