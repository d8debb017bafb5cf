import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { runFerry } from '../helpers/process.js';
import { uniqueName } from '../helpers/raw-stomp.js';
import { startSecureBroker } from '../helpers/security.js';
import { makeCertificates, startTlsBroker } from '../helpers/tls.js';

// `ferry bench` against a broker on port 0, once per protocol: every message sent arrives, and the
// summary's figures hang together (rates from counts, percentiles in order).

interface BenchResult {
  protocol: string;
  destination: string;
  sent: number;
  expected: number;
  received: number;
  sendRate: number;
  receiveRate: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(() => broker.stop());

async function bench(args: string[]): Promise<BenchResult> {
  const run = await runFerry(['bench', ...args, '--json'], { timeoutMs: 60_000 });
  assert.equal(run.code, 0, `ferry bench ${args.join(' ')}: ${run.stderr}`);
  return JSON.parse(run.stdout) as BenchResult;
}

function consistent(r: BenchResult, sent: number, expected: number): void {
  assert.deepEqual([r.sent, r.expected, r.received], [sent, expected, expected]);
  const { p50, p90, p99, max } = r.latencyMs;
  assert.ok(p50 > 0 && p50 <= p90 && p90 <= p99 && p99 <= max, `percentiles in order: ${JSON.stringify(r.latencyMs)}`);
  assert.ok(r.sendRate > 0 && r.receiveRate > 0);
}

test('STOMP: two producers share 2000 persistent messages, two consumers share the queue', async () => {
  const queue = uniqueName('bench.stomp');
  const r = await bench(['--url', `stomp://127.0.0.1:${broker.stompPort}`, '--producers', '2', '--consumers', '2', '--messages', '2000', '--persistent', '--destination', `queue://${queue}`]);
  assert.equal(r.protocol, 'stomp');
  assert.equal(r.destination, `queue://${queue}`);
  consistent(r, 2000, 2000);
});

test('MQTT: each of two subscribers gets every QoS 1 message of the topic', async () => {
  const r = await bench(['--protocol', 'mqtt', '--url', `mqtt://127.0.0.1:${broker.mqttPort}`, '--consumers', '2', '--messages', '1000', '--persistent', '--destination', `topic://${uniqueName('bench.mqtt')}`]);
  assert.equal(r.protocol, 'mqtt');
  consistent(r, 1000, 2000);
});

// enough messages that the producer runs out of credit many times with sends waiting for it (each of
// them must be woken when credit comes back, or the run stalls short of the last ones)
test('AMQP 1.0: 10,000 non-persistent messages of 4 KiB to a queue', async () => {
  const r = await bench(['--url', `amqp://127.0.0.1:${broker.amqpPort}`, '--messages', '10000', '--size', '4096', '--destination', uniqueName('bench.amqp')]);
  assert.equal(r.protocol, 'amqp');
  consistent(r, 10_000, 10_000);
});

test('--duration sends for a while instead of a number of messages, and every one arrives', async () => {
  const r = await bench(['--url', `stomp://127.0.0.1:${broker.stompPort}`, '--duration', '1', '--destination', uniqueName('bench.duration')]);
  assert.ok(r.sent > 0);
  consistent(r, r.sent, r.sent);
});

test('the table summary names rates and percentiles; a closed port exits 2, a queue over MQTT 5, a bad option 1', async () => {
  const run = await runFerry(['bench', '--url', `stomp://127.0.0.1:${broker.stompPort}`, '--messages', '100', '--destination', uniqueName('bench.table')]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^sent {6}100 in \d+\.\d\d s: \d+ msg\/s$/m);
  assert.match(run.stdout, /^received {2}100 of 100 in \d+\.\d\d s: \d+ msg\/s$/m);
  assert.match(run.stdout, /^latency {3}p50 [\d.]+ ms {2}p90 [\d.]+ ms {2}p99 [\d.]+ ms {2}max [\d.]+ ms$/m);

  const closed = await runFerry(['bench', '--url', 'amqp://127.0.0.1:1', '--messages', '1']);
  assert.equal(closed.code, 2, closed.stderr);
  assert.match(closed.stderr, /FERRY_CLI_UNREACHABLE/);
  const mqttQueue = await runFerry(['bench', '--protocol', 'mqtt', '--destination', 'queue://q', '--url', `mqtt://127.0.0.1:${broker.mqttPort}`]);
  assert.equal(mqttQueue.code, 5, mqttQueue.stderr);
  const bad = await runFerry(['bench', '--protocol', 'carrier-pigeon']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /FERRY_CLI_USAGE: --protocol must be stomp, mqtt or amqp/);
});

test('with users, each protocol logs in with --user and FERRY_PASSWORD; a wrong password is a failed run, not an unreachable broker', async () => {
  const secure = await startSecureBroker();
  try {
    const urls = { stomp: `stomp://127.0.0.1:${secure.stompPort}`, mqtt: `mqtt://127.0.0.1:${secure.mqttPort}`, amqp: `amqp://127.0.0.1:${secure.amqpPort}` };
    for (const [protocol, url] of Object.entries(urls)) {
      const destination = protocol === 'mqtt' ? `topic://${uniqueName('bench.login')}` : uniqueName('bench.login');
      const run = await runFerry(['bench', '--url', url, '--user', 'admin', '--messages', '200', '--persistent', '--destination', destination, '--json'], { env: { FERRY_PASSWORD: 'admin-secret' } });
      assert.equal(run.code, 0, `${protocol}: ${run.stderr}`);
      assert.equal((JSON.parse(run.stdout) as BenchResult).received, 200, protocol);
      const wrong = await runFerry(['bench', '--url', url, '--user', 'admin', '--messages', '1', '--destination', destination], { env: { FERRY_PASSWORD: 'wrong' } });
      assert.equal(wrong.code, 5, `${protocol}: ${wrong.stderr}`);
      assert.match(wrong.stderr, /bench failed/);
    }
  } finally {
    await secure.stop();
  }
});

test('over TLS, --ca names the authority of a broker whose certificate is privately signed, as the refusal without it says', async () => {
  const certs = makeCertificates();
  const secure = await startTlsBroker(certs);
  try {
    const untrusted = await runFerry(['bench', '--url', `stomp+ssl://localhost:${secure.tlsPorts.stomp}`, '--messages', '1']);
    assert.equal(untrusted.code, 2, untrusted.stderr);
    assert.match(untrusted.stderr, /FERRY_CLI_UNTRUSTED: .*give its authority with --ca/);
    for (const url of [`stomp+ssl://localhost:${secure.tlsPorts.stomp}`, `mqtts://localhost:${secure.tlsPorts.mqtt}`, `amqps://localhost:${secure.tlsPorts.amqp}`]) {
      const r = await bench(['--url', url, '--ca', certs.ca, '--messages', '50', '--persistent', '--destination', `topic://${uniqueName('bench.tls')}`]);
      consistent(r, 50, 50);
    }
  } finally {
    await secure.stop();
  }
});
