import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqttPacket, { type IConnectPacket } from 'mqtt-packet';
import { connectPacket } from '../../bench/mqtt-client.js';
import { securityRows } from '../../bench/report.js';
import { emptyResult } from '../../bench/runner.js';
import type { ScenarioResult } from '../../bench/runner.js';
import { SCENARIOS, findScenario } from '../../bench/scenarios.js';

function parseConnect(bytes: Buffer): IConnectPacket {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const packets: mqttPacket.Packet[] = [];
  parser.on('packet', (p) => packets.push(p));
  parser.on('error', (err) => assert.fail(err));
  parser.parse(bytes);
  assert.equal(packets.length, 1);
  const packet = packets[0] as mqttPacket.Packet;
  assert.equal(packet.cmd, 'connect');
  return packet as IConnectPacket;
}

test("the benchmark's MQTT CONNECT carries the user name and password when it logs in, and neither when it does not", () => {
  const secure = parseConnect(connectPacket('bench-producer-0', 0, { user: 'bench', password: 'pässword' }));
  assert.equal(secure.clientId, 'bench-producer-0');
  assert.equal(secure.username, 'bench');
  assert.equal(secure.password?.toString('utf8'), 'pässword');
  assert.equal(secure.clean, true);

  const plain = parseConnect(connectPacket('bench-producer-0'));
  assert.equal(plain.username, undefined);
  assert.equal(plain.password, undefined);
  assert.equal(plain.clean, true);
});

test('each secure scenario repeats the traffic of the scenario it names, on Ferry and ActiveMQ', () => {
  const secure = SCENARIOS.filter((s) => s.secureOf !== undefined);
  assert.deepEqual(secure.map((s) => s.name).sort(), ['mqtt-qos1-1-1-secure', 'queue-1-1-persistent-secure']);
  for (const scenario of secure) {
    const plain = findScenario(scenario.secureOf ?? '');
    assert.ok(plain !== undefined && plain.secureOf === undefined);
    const { name, summary, brokers, secureOf, ...traffic } = scenario;
    const { name: _n, summary: _s, brokers: _b, ...plainTraffic } = plain;
    assert.deepEqual(traffic, plainTraffic);
    assert.deepEqual(brokers, ['ferry', 'activemq']);
    assert.equal(name, `${secureOf}-secure`);
    assert.ok(summary.length > 0);
  }
});

test('the security table divides each broker by itself, then Ferry by the others, and leaves out failed pairs', () => {
  const result = (scenario: string, broker: 'ferry' | 'activemq', perS: number, cpuUs: number, error?: string): ScenarioResult => ({
    ...emptyResult(scenario, broker),
    deliveriesPerSecond: perS,
    brokerCpuUsPerDelivery: cpuUs,
    ...(error === undefined ? {} : { error }),
  });
  const scenarios = ['queue-1-1-persistent', 'queue-1-1-persistent-secure', 'mqtt-qos1-1-1', 'mqtt-qos1-1-1-secure'].map((n) => {
    const s = findScenario(n);
    assert.ok(s !== undefined);
    return s;
  });
  const rows = securityRows(
    [
      result('queue-1-1-persistent', 'ferry', 30_000, 25),
      result('queue-1-1-persistent-secure', 'ferry', 24_000, 30),
      result('queue-1-1-persistent', 'activemq', 2_000, 500),
      result('queue-1-1-persistent-secure', 'activemq', 1_600, 600),
      result('mqtt-qos1-1-1', 'ferry', 100_000, 6),
      result('mqtt-qos1-1-1-secure', 'ferry', 60_000, 9),
      result('mqtt-qos1-1-1', 'activemq', 0, 0, 'activemq did not start'),
      result('mqtt-qos1-1-1-secure', 'activemq', 0, 0, 'activemq did not start'),
    ],
    scenarios,
  );
  assert.deepEqual(rows, [
    ['queue-1-1-persistent-secure', 'ferry: secure / plain', '0.80', '1.20'],
    ['queue-1-1-persistent-secure', 'activemq: secure / plain', '0.80', '1.20'],
    ['queue-1-1-persistent-secure', 'secure: ferry / activemq', '15.00', '0.05'],
    ['mqtt-qos1-1-1-secure', 'ferry: secure / plain', '0.60', '1.50'],
  ]);
});
