/**
 * The login/permission matrix over STOMP with @stomp/stompjs: a good login, a wrong password, an
 * unknown user, and a user short of the right to write, to read, to create, to browse (ActiveMQ's
 * `browser:true` subscription, which consumes nothing).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, type IFrame } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import { assertRefusalLogged, password, startMatrixBroker, type MatrixBroker } from '../helpers/authz-matrix.js';
import { RawStompClient, encodeRaw, subscribeConfirmed, uniqueName, within } from '../helpers/raw-stomp.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';

let broker: MatrixBroker;
before(async () => {
  broker = await startMatrixBroker();
});
after(() => broker.stop());

const login = (user: string, pw = password(user)): Promise<StompTestClient> => connectStomp(broker.stompPort, { headers: { login: user, passcode: pw } });

/** Connects with these credentials; resolves with the ERROR frame once the broker has closed the socket. */
async function refusedLogin(user: string, pw: string): Promise<IFrame> {
  const errors: IFrame[] = [];
  const client = new Client({ webSocketFactory: () => new TCPWrapper('127.0.0.1', broker.stompPort), connectHeaders: { host: 'localhost', login: user, passcode: pw }, reconnectDelay: 0, debug: () => {} });
  client.onStompError = (frame) => errors.push(frame);
  const closed = new Promise<void>((resolve) => (client.onWebSocketClose = () => resolve()));
  client.onConnect = () => assert.fail('the broker accepted the login');
  client.activate();
  await within(5000, 'the refused connection to close', closed);
  await client.deactivate();
  assert.equal(errors.length, 1);
  return errors[0]!;
}

/** Does `act` with a receipt and resolves with the ERROR frame that answers it, once the broker has closed the connection. */
async function refused(client: StompTestClient, act: (receipt: string) => void): Promise<IFrame> {
  const receipt = uniqueName('r');
  act(receipt);
  await within(5000, 'the refused connection to close', client.closed);
  assert.equal(client.errors.length, 1);
  const error = client.errors[0]!;
  assert.equal(error.headers['code'], 'FERRY_NOT_AUTHORIZED');
  assert.equal(error.headers['receipt-id'], receipt);
  return error;
}

/** A queue that exists, made by the user with every right, holding `bodies`. */
async function existingQueue(prefix: string, bodies: readonly string[] = []): Promise<string> {
  const name = uniqueName(prefix);
  const full = await login('full');
  await subscribeConfirmed(full, `/queue/${name}`).then((inbox) => inbox.subscription.unsubscribe());
  for (const body of bodies) await full.sendConfirmed(`/queue/${name}`, body);
  await full.disconnect();
  return name;
}

describe('STOMP login and permission matrix', () => {
  test('good login: the user with every right sends, creating the queue, and receives', async () => {
    const client = await login('full');
    const queue = uniqueName('matrix.stomp.good');
    await client.sendConfirmed(`/queue/${queue}`, 'hello');
    const inbox = await subscribeConfirmed(client, `/queue/${queue}`);
    assert.equal((await inbox.next()).body, 'hello');
    await client.disconnect();
  });

  test('a STOMP 1.0 CONNECT with padded headers (login: full) logs in as the user named, padding trimmed as ActiveMQ trims 1.0 headers', async () => {
    const raw = await RawStompClient.open(broker.stompPort);
    try {
      await raw.write(encodeRaw('CONNECT', [['login', ' full'], ['passcode', ` ${password('full')} `]]));
      const connected = await raw.nextFrame();
      assert.equal(connected.command, 'CONNECTED', `got ${connected.command} ${connected.headers.get('message') ?? ''}`);
      assert.equal(connected.headers.get('version'), '1.0');
    } finally {
      raw.destroy();
    }
  });

  test('wrong password: ERROR FERRY_AUTHENTICATION_FAILED, the socket closes, a log line with user and address and without the password', async () => {
    const error = await refusedLogin('full', 'not-the-password');
    assert.equal(error.headers['code'], 'FERRY_AUTHENTICATION_FAILED');
    assert.ok(!error.body.includes('not-the-password') && !(error.headers['message'] ?? '').includes('not-the-password'));
    await assertRefusalLogged(broker, 'stomp', 'full', 'not-the-password');
  });

  test('unknown user: the same ERROR as a wrong password (nothing tells the two apart), logged likewise', async () => {
    const error = await refusedLogin('stranger', 'stranger-pw');
    assert.equal(error.headers['code'], 'FERRY_AUTHENTICATION_FAILED');
    await assertRefusalLogged(broker, 'stomp', 'stranger', 'stranger-pw');
  });

  test('no right to write: the SEND gets ERROR naming the right and the queue, with its receipt-id; nothing is enqueued', async () => {
    const queue = await existingQueue('matrix.stomp.nowrite');
    const client = await login('nowrite');
    const error = await refused(client, (receipt) => client.client.publish({ destination: `/queue/${queue}`, body: 'not allowed', headers: { receipt } }));
    assert.match(error.headers['message']!, /write/);
    assert.ok(error.headers['message']!.includes(queue), error.headers['message']);
    assert.equal(broker.server.broker.stats().queues.find((q) => q.name === queue)?.pending, 0);
  });

  test('no right to read: the SUBSCRIBE gets ERROR naming the right and the queue; the messages stay', async () => {
    const queue = await existingQueue('matrix.stomp.noread', ['kept']);
    const client = await login('noread');
    const error = await refused(client, (receipt) => client.client.subscribe(`/queue/${queue}`, () => assert.fail('a message reached a refused subscription'), { receipt }));
    assert.match(error.headers['message']!, /read/);
    assert.ok(error.headers['message']!.includes(queue));
    assert.equal(broker.server.broker.stats().queues.find((q) => q.name === queue)?.pending, 1);
  });

  test('no right to create: a SEND to a queue not there yet gets ERROR naming create; to an existing queue it is taken', async () => {
    const queue = await existingQueue('matrix.stomp.nocreate');
    const allowed = await login('nocreate');
    await allowed.sendConfirmed(`/queue/${queue}`, 'to an existing queue');
    await allowed.disconnect();
    const client = await login('nocreate');
    const fresh = uniqueName('matrix.stomp.fresh');
    const error = await refused(client, (receipt) => client.client.publish({ destination: `/queue/${fresh}`, body: 'x', headers: { receipt } }));
    assert.match(error.headers['message']!, /create/);
    assert.ok(error.headers['message']!.includes(fresh));
    assert.equal(broker.server.broker.stats().queues.some((q) => q.name === fresh), false, 'the queue was not made');
  });

  test('no right to create: subscribing to a topic not there yet is refused too', async () => {
    const client = await login('nocreate');
    const error = await refused(client, (receipt) => client.client.subscribe(`/topic/${uniqueName('matrix.stomp.newtopic')}`, () => {}, { receipt }));
    assert.match(error.headers['message']!, /create/);
  });

  test('browse: a browser:true subscription needs browse, not read, and takes nothing; without browse it gets ERROR', async () => {
    const queue = await existingQueue('matrix.stomp.browse', ['a', 'b']);
    const browser = await login('noread');
    const inbox = await subscribeConfirmed(browser, `/queue/${queue}`, { browser: 'true' });
    assert.deepEqual([(await inbox.next()).body, (await inbox.next()).body], ['a', 'b']);
    assert.equal((await inbox.next()).headers['browser'], 'end');
    await browser.disconnect();
    const client = await login('nobrowse');
    const error = await refused(client, (receipt) => client.client.subscribe(`/queue/${queue}`, () => {}, { browser: 'true', receipt }));
    assert.match(error.headers['message']!, /browse/);
    assert.equal(broker.server.broker.stats().queues.find((q) => q.name === queue)?.pending, 2, 'browsing took nothing');
  });

  test('messages accepted before a refusal are kept: receipted sends survive the ERROR that closes the connection', async () => {
    const queue = await existingQueue('matrix.stomp.kept');
    const client = await login('nocreate');
    await client.sendConfirmed(`/queue/${queue}`, 'one');
    await client.sendConfirmed(`/queue/${queue}`, 'two');
    await refused(client, (receipt) => client.client.publish({ destination: `/queue/${uniqueName('matrix.stomp.none')}`, body: 'x', headers: { receipt } }));
    const full = await login('full');
    const inbox = await subscribeConfirmed(full, `/queue/${queue}`);
    assert.deepEqual([(await inbox.next()).body, (await inbox.next()).body], ['one', 'two']);
    await full.disconnect();
  });
});
