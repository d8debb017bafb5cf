/**
 * The login/permission matrix with clients from elsewhere: stomp.py, paho (MQTT 3.1.1 and 5) and
 * Qpid Proton, each script run in its `matrix` mode against the users of test/helpers/authz-matrix.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertRefusalLogged, startMatrixBroker, type MatrixBroker } from '../helpers/authz-matrix.js';
import { interopScript, lastJsonLine, python, pythonModuleMissing, run } from '../helpers/interop.js';

const stompMissing = pythonModuleMissing('stomp', 'stomp.py', 'python3-stomp');
const pahoMissing = pythonModuleMissing('paho.mqtt.client', 'paho', 'python3-paho-mqtt');
const protonMissing = pythonModuleMissing('proton', 'Qpid Proton', 'python3-qpid-proton');

let broker: MatrixBroker | undefined;
before(async () => {
  if (stompMissing === undefined || pahoMissing === undefined || protonMissing === undefined) broker = await startMatrixBroker();
});
after(async () => {
  await broker?.stop();
});

type Report = Record<string, unknown>;
const matrix = async (script: string, port: number): Promise<Report> => lastJsonLine<Report>(await run(python, [interopScript(script), String(port), 'matrix']));

test('stomp.py: good login, wrong password, unknown user, no write, no read, no create, no browse', { skip: stompMissing }, async () => {
  const r = await matrix('stomp_py_client.py', broker!.stompPort);
  assert.deepEqual(r['good'], { connected: true, done: 'hello', closed: true, errors: [] });
  for (const refusedLogin of ['wrong_password', 'unknown_user']) {
    assert.deepEqual(r[refusedLogin], { connected: false, closed: true, errors: [{ code: 'FERRY_AUTHENTICATION_FAILED', 'receipt-id': null, message: 'unknown user or wrong password' }] }, refusedLogin);
  }
  const refusal = (key: string, receipt: string, text: RegExp): void => {
    const entry = r[key] as { connected: boolean; closed: boolean; errors: { code: string; 'receipt-id': string; message: string }[] };
    assert.equal(entry.connected, true, key);
    assert.equal(entry.closed, true, `${key}: STOMP closes after ERROR`);
    assert.equal(entry.errors.length, 1, key);
    assert.equal(entry.errors[0]!.code, 'FERRY_NOT_AUTHORIZED', key);
    assert.equal(entry.errors[0]!['receipt-id'], receipt, key);
    assert.match(entry.errors[0]!.message, text, key);
  };
  refusal('no_write', 'w1', /no write right/);
  refusal('no_read', 'r1', /no read right/);
  refusal('no_create', 'c1', /create queue "matrix\.py\.fresh"/);
  refusal('no_browse', 'b1', /no browse right/);
  // browse needs browse, not read: the message is shown, then the end, and stays
  assert.deepEqual((r['browse'] as { done: unknown }).done, ['kept', 'end']);
  await assertRefusalLogged(broker!, 'stomp', 'full', 'py-wrong-password');
  await assertRefusalLogged(broker!, 'stomp', 'py-stranger', 'stranger-secret');
});

test('paho, MQTT 3.1.1 and 5: CONNACK refusals, SUBACK per filter, a refused publish', { skip: pahoMissing }, async () => {
  const r = (await matrix('mqtt_paho_client.py', broker!.mqttPort)) as Record<'v311' | 'v5', Report>;
  assert.deepEqual(r.v311, {
    good_suback: [1, 1],
    good_received: ['hello'],
    wrong_password: 4,
    unknown_user: 4,
    no_read_suback: [0x80, 1],
    no_create_suback: [0x80, 1],
    // 3.1.1 cannot refuse one message: the connection closes before its next publish
    no_write_first_seen: [],
    no_write_closed: true,
  });
  assert.deepEqual(r.v5, {
    good_suback: [1, 1],
    good_received: ['hello'],
    wrong_password: 0x86,
    unknown_user: 0x86,
    no_read_suback: [0x87, 1],
    no_create_suback: [0x87, 1],
    // MQTT 5 refuses the one message (PUBACK 0x87) and the connection carries the next
    no_write_first_seen: ['allowed'],
    no_write_closed: false,
  });
  await assertRefusalLogged(broker!, 'mqtt', 'full', 'paho-wrong-password');
  await assertRefusalLogged(broker!, 'mqtt', 'paho-stranger', 'stranger-secret');
});

test('Qpid Proton: SASL refusals, links refused with amqp:unauthorized-access, the relay rejected, browse in copy mode', { skip: protonMissing }, async () => {
  const r = await matrix('amqp_proton_client.py', broker!.amqpPort);
  assert.equal(r['good'], true);
  for (const refusedLogin of ['wrong_password', 'unknown_user']) assert.match(String(r[refusedLogin]), /amqp:unauthorized-access/, refusedLogin);
  assert.equal(r['no_write'], 'amqp:unauthorized-access');
  assert.equal(r['no_write_relay'], 'SendException: REJECTED');
  assert.equal(r['no_write_after'], 'still here');
  assert.equal(r['no_read'], 'amqp:unauthorized-access');
  assert.equal(r['no_read_after'], 'still here');
  assert.equal(r['no_create'], 'amqp:unauthorized-access');
  assert.equal(r['no_create_existing'], null);
  assert.equal(r['no_browse'], 'amqp:unauthorized-access');
  assert.deepEqual(r['browsed'], ['a', 'b', 'c']);
  assert.deepEqual(r['left'], ['a', 'b', 'c']);
  await assertRefusalLogged(broker!, 'amqp', 'full', 'proton-wrong-password');
  await assertRefusalLogged(broker!, 'amqp', 'proton-stranger', 'stranger-secret');
});
