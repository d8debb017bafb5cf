import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { interopScript, lastJsonLine, missingPrerequisite, python, pythonModuleMissing, run } from '../helpers/interop.js';
import { within } from '../helpers/raw-stomp.js';
import { connectStompWs } from '../helpers/ws.js';

const script = interopScript('mqtt_paho_client.py');
const pahoMissing = pythonModuleMissing('paho.mqtt.client', 'paho', 'python3-paho-mqtt');
const mosquittoMissing = missingPrerequisite('mosquitto_pub and mosquitto_sub', spawnSync('mosquitto_pub', ['--help']).error === undefined, 'apt-get install mosquitto-clients');

let broker: TestBroker;
before(async () => {
  if (pahoMissing === undefined || mosquittoMissing === undefined) broker = await startBroker();
});
after(async () => {
  await broker?.stop();
});

test('paho (Python) over MQTT 3.1.1 and 5.0: QoS 0/1/2, user properties, retained, persistent session', { skip: pahoMissing }, async () => {
  const report = lastJsonLine<Record<string, Record<string, unknown>>>(await run(python, [script, String(broker.mqttPort)]));
  for (const version of ['v311', 'v5']) {
    const r = report[version]!;
    assert.equal(r['connack_rc'], 0, version);
    assert.deepEqual(r['received'], [['m0', 0], ['m1', 1], ['m2', 2]], version);
    assert.deepEqual(r['retained'], [['kept', true]], version);
    assert.equal(r['session_present'], true, version);
    assert.deepEqual(r['while_away'], ['while away'], version);
  }
  assert.deepEqual(report['v5']!['user'], [{ origin: 'paho' }, { origin: 'paho' }, { origin: 'paho' }]);
});

test('paho (Python) over WebSocket stays connected, and subscribed, while the broker pings its STOMP clients', { skip: pahoMissing }, async (t) => {
  // paho up to 1.6 answers a WebSocket ping with an unmasked pong, which the server must close the
  // connection for (RFC 6455 5.1): MQTT clients are not pinged unless mqtt.websocketPingInterval says so
  const pinging = await startBroker({ 'websocket.pingInterval': 100 });
  t.after(() => pinging.stop());
  const child = spawn(python, [interopScript('mqtt_paho_websocket.py'), String(pinging.wsPort)]);
  t.after(() => child.kill());
  const output = collect(child);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const ready = (async () => {
    while (!output.out.includes('ready\n')) await Promise.race([output.more(), exited.then((code) => Promise.reject(new Error(`the paho client exited ${code}: ${output.err}`)))]);
  })();
  await within(10_000, 'the paho client connected and subscribed', ready);
  // the sweeps that ping STOMP clients pass while paho is connected
  const stomp = await connectStompWs(pinging.wsPort);
  let pings = 0;
  await within(5000, 'five pings to the STOMP client', new Promise<void>((resolve) => stomp.socket().on('ping', () => ++pings === 5 && resolve())));
  await stomp.disconnect();
  child.stdin.end('go\n');
  assert.equal(await within(10_000, 'the paho client done', exited), 0, output.err);
  const report = lastJsonLine<{ connects: number; disconnects: number[]; received: string[] }>(output.out);
  assert.deepEqual(report, { connects: 1, disconnects: [0], received: ['still subscribed'] }, 'one connection, ended by the client itself');
});

/** Starts mosquitto_sub; `seen(text)` resolves once its output contains `text`. */
function mosquittoSub(args: string[], count: number): { done: Promise<string>; seen(text: string): Promise<void> } {
  const child = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.mqttPort), '-C', String(count), '-W', '10', ...args]);
  const output = collect(child);
  const done = new Promise<string>((resolve, reject) => {
    // 'close', not 'exit': the last lines may still be in the pipe when the process has exited
    child.on('close', (code) => (code === 0 ? resolve(output.out) : reject(new Error(`mosquitto_sub exited ${code}: ${output.err}`))));
  });
  return {
    done,
    async seen(text) {
      while (!output.out.includes(text)) await Promise.race([output.more(), done.then(() => {})]).then(() => {
        if (!output.out.includes(text) && child.exitCode !== null) throw new Error(`mosquitto_sub ended before printing "${text}": ${output.err}`);
      });
    },
  };
}

/** What a child process has printed so far; `more()` resolves at its next output. */
function collect(child: ChildProcessWithoutNullStreams): { readonly out: string; readonly err: string; more(): Promise<void> } {
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return {
    get out() {
      return out;
    },
    get err() {
      return err;
    },
    more: () => new Promise<void>((r) => waiters.push(r)),
  };
}

for (const version of ['mqttv311', 'mqttv5'] as const) {
  test(`mosquitto_pub and mosquitto_sub (${version}): QoS 1 and 2, retained`, { skip: mosquittoMissing }, async () => {
    const base = ['-V', version];
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.mqttPort), ...base, '-t', `mosq/${version}/status`, '-m', 'online', '-q', '1', '-r']);
    const sub = mosquittoSub([...base, '-t', `mosq/${version}/#`, '-q', '2', '-v'], 3);
    // the retained message arrives once the subscription is in place
    await sub.seen('status online');
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.mqttPort), ...base, '-t', `mosq/${version}/a`, '-m', 'one', '-q', '1']);
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.mqttPort), ...base, '-t', `mosq/${version}/b`, '-m', 'two', '-q', '2']);
    const lines = (await sub.done).trim().split('\n');
    assert.deepEqual(lines, [`mosq/${version}/status online`, `mosq/${version}/a one`, `mosq/${version}/b two`]);
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.mqttPort), ...base, '-t', `mosq/${version}/status`, '-n', '-r', '-q', '1']);
  });
}
