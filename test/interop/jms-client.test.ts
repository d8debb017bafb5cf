import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { jmsCheck, jmsMissing, one, startJmsCheck } from '../helpers/jms.js';
import { spawnBroker } from '../helpers/process.js';
import { startSecureBroker } from '../helpers/security.js';
import { connectStomp } from '../helpers/stomp.js';

/**
 * ActiveMQ's own JMS client (activemq-client from Debian's libactivemq-java) against Ferry over
 * OpenWire: what a Java application written for ActiveMQ does, unchanged.
 */
const skip = jmsMissing();

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('ActiveMQ JMS client', { skip }, () => {
  let broker: TestBroker;
  let url: string;

  before(async () => {
    broker = await startBroker();
    url = `tcp://127.0.0.1:${broker.ports.openwire}`;
  });

  after(async () => {
    await broker?.stop();
  });

  test('every message type keeps its body, JMS headers and typed properties', async () => {
    const result = await jmsCheck(url, 'types', 'jms.types');
    const classes = ['ActiveMQTextMessage', 'ActiveMQBytesMessage', 'ActiveMQMapMessage', 'ActiveMQStreamMessage', 'ActiveMQObjectMessage', 'ActiveMQMessage'];
    classes.forEach((name, i) => {
      assert.equal(one(result, `m${i}.class`), name);
      assert.equal(one(result, `m${i}.pBool`), 'Boolean:true');
      assert.equal(one(result, `m${i}.pByte`), 'Byte:-3');
      assert.equal(one(result, `m${i}.pShort`), 'Short:300');
      assert.equal(one(result, `m${i}.pInt`), 'Integer:-70000');
      assert.equal(one(result, `m${i}.pLong`), `Long:${2 ** 50}`);
      assert.equal(one(result, `m${i}.pFloat`), 'Float:1.5');
      assert.equal(one(result, `m${i}.pDouble`), 'Double:0.1');
      assert.equal(one(result, `m${i}.pString`), 'String:str');
      assert.equal(one(result, `m${i}.correlationId`), 'corr-1');
      assert.equal(one(result, `m${i}.replyTo`), 'queue://jms.types.replies');
      assert.equal(one(result, `m${i}.type`), 'order-type');
      assert.equal(one(result, `m${i}.priority`), 7);
      assert.equal(one(result, `m${i}.persistent`), true);
      assert.equal(one(result, `m${i}.expires`), true);
      assert.equal(one(result, `m${i}.groupId`), 'g1');
      assert.equal(one(result, `m${i}.groupSeq`), 5);
      assert.equal(one(result, `m${i}.messageId`), true);
    });
    assert.equal(one(result, 'm0.text'), 'text ünïcode \u0000 \u{1F600}');
    assert.equal(one(result, 'm1.bytes'), '[0, 1, 2, -1]');
    assert.equal(one(result, 'm2.map'), '7,v,2.5,[9]');
    assert.equal(one(result, 'm3.stream'), `${2 ** 40},x,true`);
    assert.equal(one(result, 'm4.object'), 'bookx3');
  });

  test('acknowledgement modes: client with recover, individual, transacted rollback and commit, dups-ok', async () => {
    const result = await jmsCheck(url, 'ack-modes', 'jms.acks');
    assert.equal(one(result, 'recover.same'), true);
    assert.equal(one(result, 'recover.redelivered'), true);
    assert.equal(one(result, 'recover.deliveryCount'), 2);
    assert.equal(one(result, 'individual.received'), 'm2,m3');
    // m2 came back when the individual consumer closed without acknowledging it
    assert.equal(one(result, 'tx.rolledBack'), 'm2,m2,true');
    assert.equal(one(result, 'tx.committed'), 'm4');
    assert.equal(one(result, 'after.left'), 'null');
  });

  test('a durable subscriber gets what was sent while it was away, through its selector, and unsubscribes', async () => {
    const result = await jmsCheck(url, 'durable', 'jms.durable');
    assert.equal(one(result, 'whileAway'), 'keep,keep');
    assert.equal(one(result, 'unsubscribeTwice'), 'refused');
  });

  test('request and reply through a temporary queue made by another connection', async () => {
    const result = await jmsCheck(url, 'request-reply');
    assert.equal(one(result, 'reply'), 're: ping / c-42');
  });

  test('a queue browser with a selector, a prefetch-0 consumer pulling, and a selector that does not parse', async () => {
    const result = await jmsCheck(url, 'browse-select-pull', 'jms.browse');
    assert.equal(one(result, 'browsed'), 'b2,b3,b4');
    assert.equal(one(result, 'pulled'), 'b1,b3,b4');
    assert.equal(one(result, 'noWait'), 'null');
    assert.equal(one(result, 'left'), 'b2');
    assert.equal(one(result, 'badSelector'), 'InvalidSelectorException');
  });

  test('the client\'s redelivery policy gives up: its poison acknowledgement puts the message in ActiveMQ.DLQ with the cause', async () => {
    const result = await jmsCheck(url, 'dead-letter', 'jms.poison');
    assert.equal(one(result, 'attempts'), 3);
    assert.match(String(one(result, 'cause')), /^java\.lang\.Throwable: Delivery\[3\] exceeds redelivery policy limit/);
  });

  test('advisories tell a watcher of consumers coming and going', async () => {
    const result = await jmsCheck(url, 'advisories', 'jms.watched');
    assert.equal(one(result, 'added'), 'ConsumerInfo 1');
    assert.equal(one(result, 'removed'), 'RemoveInfo 0');
  });

  test('an exclusive consumer takes every message while it is there', async () => {
    const result = await jmsCheck(url, 'groups-exclusive', 'jms.exclusive');
    assert.equal(one(result, 'exclusive'), '4/none');
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

describe('ActiveMQ JMS client across a broker killed with SIGKILL', { skip }, () => {
  let data: string;

  before(() => {
    data = mkdtempSync(join(tmpdir(), 'ferry-jms-kill-'));
  });

  after(() => {
    rmSync(data, { recursive: true, force: true });
  });

  test('XA: prepared, the broker killed, then recovered and committed: the work is done exactly once', async () => {
    const port = await freePort();
    const start = (): ReturnType<typeof spawnBroker> => spawnBroker(['--data', join(data, 'xa'), '--openwire-port', String(port), '--stomp-port', '0']);
    let ferry = await start();
    const url = `tcp://127.0.0.1:${port}`;
    await jmsCheck(url, 'produce', 'xa.q.in', '1');
    const prepared = await jmsCheck(url, 'xa-prepare', 'xa.q', '1');
    assert.equal(one(prepared, 'prepare'), 0);
    await ferry.stop('SIGKILL');
    ferry = await start();
    try {
      const recovered = await jmsCheck(url, 'xa-recover', 'commit');
      assert.equal(one(recovered, 'recovered'), 1);
      assert.equal(one(recovered, 'xid'), '4660:global-1:branch-1');
      assert.equal(one(recovered, 'after'), 0);
      assert.equal(one(await jmsCheck(url, 'count', 'xa.q.out'), 'texts'), 'made from 1');
      assert.equal(one(await jmsCheck(url, 'count', 'xa.q.in'), 'count'), 0);
    } finally {
      await ferry.stop();
    }
  });

  test('failover: a producer rides through a kill -9 and a restart, and its consumer gets every message once', async () => {
    const port = await freePort();
    const start = (): ReturnType<typeof spawnBroker> => spawnBroker(['--data', join(data, 'failover'), '--openwire-port', String(port), '--stomp-port', '0']);
    let ferry = await start();
    const url = `failover:(tcp://127.0.0.1:${port})?initialReconnectDelay=100&maxReconnectDelay=500`;
    const total = 3000;
    const producer = startJmsCheck(url, 'produce', 'failover.q', String(total), '100');
    try {
      await producer.printed('sent', 5);
      await ferry.stop('SIGKILL');
      ferry = await start();
      const sent = await producer.finished();
      assert.equal(one(sent, 'done'), total);
      const consumed = await jmsCheck(url, 'consume', 'failover.q', String(total));
      assert.equal(one(consumed, 'missing'), 0);
      assert.equal(one(consumed, 'duplicates'), 0);
      assert.equal(one(consumed, 'received'), total);
    } finally {
      producer.child.kill('SIGKILL');
      await ferry.stop();
    }
  });
});
