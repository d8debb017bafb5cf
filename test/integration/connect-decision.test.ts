import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { GateAuthenticator } from '../helpers/gate.js';
import { rawMqtt } from '../helpers/mqtt.js';
import { RawStompClient, encodeRaw } from '../helpers/raw-stomp.js';

let broker: TestBroker;
const gate = new GateAuthenticator();
before(async () => {
  broker = await startBroker({}, { authenticator: gate });
});
after(async () => {
  await broker.stop();
});

describe('while the broker decides on a connect', () => {
  test('STOMP: frames sent after CONNECT wait, and are handled in order once CONNECTED is out', async () => {
    const raw = await RawStompClient.open(broker.stompPort);
    await raw.write(
      Buffer.concat([
        encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost', 'heart-beat': '0,0', login: 'ann', passcode: 'secret' }),
        encodeRaw('SUBSCRIBE', { id: 's', destination: '/queue/decided.stomp', receipt: 'r1' }),
        encodeRaw('SEND', { destination: '/queue/decided.stomp', receipt: 'r2' }, 'first'),
      ]),
    );
    await gate.asked();
    const request = gate.requests.at(-1)!;
    assert.equal(request.protocol, 'stomp');
    assert.equal(request.credentials?.username, 'ann');
    assert.equal(request.credentials?.password, 'secret');
    assert.match(request.transport.remoteAddress, /127\.0\.0\.1/);
    assert.equal(raw.received.length, 0, 'nothing is answered before the broker decides');
    gate.allow();
    assert.equal((await raw.nextFrame()).command, 'CONNECTED');
    const rest = [await raw.nextFrame(), await raw.nextFrame(), await raw.nextFrame()];
    // a non-persistent SEND is delivered within the frame's handling, before its receipt
    assert.deepEqual(
      rest.map((f) => (f.command === 'RECEIPT' ? `RECEIPT ${f.headers.get('receipt-id')}` : `${f.command} ${f.body.toString()}`)),
      ['RECEIPT r1', 'MESSAGE first', 'RECEIPT r2'],
    );
    raw.socket.destroy();
  });

  test('STOMP: a refused connect is an ERROR frame with the code, and the connection closes', async () => {
    const raw = await RawStompClient.open(broker.stompPort);
    await raw.write(Buffer.concat([encodeRaw('CONNECT', { 'accept-version': '1.2', host: 'localhost', login: 'eve', passcode: 'guess' }), encodeRaw('SEND', { destination: '/queue/decided.never' }, 'x')]));
    await gate.asked();
    gate.refuse();
    const error = await raw.nextFrame();
    assert.equal(error.command, 'ERROR');
    assert.equal(error.headers.get('code'), 'FERRY_AUTHENTICATION_FAILED');
    await raw.closed;
    const stats = broker.server.broker.stats();
    assert.equal(stats.queues.find((q) => q.name === 'decided.never'), undefined, 'the frame after a refused CONNECT was not acted on');
  });

  test('MQTT: a SUBSCRIBE sent with CONNECT is answered after CONNACK', async () => {
    const client = await rawMqtt(broker.mqttPort, 4);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'decided-mqtt', clean: true, keepalive: 0, username: 'ann', password: Buffer.from('secret') });
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'decided/mqtt', qos: 1 }] });
    await gate.asked();
    assert.equal(gate.requests.at(-1)!.credentials?.username, 'ann');
    assert.equal(client.packets.length, 0);
    gate.allow();
    const connack = await client.next('connack');
    assert.equal((connack as { returnCode?: number }).returnCode, 0);
    const suback = await client.next('suback');
    assert.deepEqual((suback as { granted: number[] }).granted, [1]);
    client.socket.destroy();
  });

  test("MQTT: a refused connect gets the protocol's bad-credentials answer (3.1.1 code 4, 5.0 reason 0x86)", async () => {
    const legacy = await rawMqtt(broker.mqttPort, 4);
    legacy.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'refused-4', clean: true, keepalive: 0, username: 'eve', password: Buffer.from('guess') });
    await gate.asked();
    gate.refuse();
    assert.equal((await legacy.next('connack') as { returnCode?: number }).returnCode, 4);
    await legacy.closed;

    const v5 = await rawMqtt(broker.mqttPort, 5);
    v5.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'refused-5', clean: true, keepalive: 0, username: 'eve', password: Buffer.from('guess') });
    await gate.asked();
    gate.refuse();
    assert.equal((await v5.next('connack') as { reasonCode?: number }).reasonCode, 0x86);
    await v5.closed;
  });
});
