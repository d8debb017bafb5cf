/**
 * A broker that stood still (stopped, suspended, its event loop held) past its clients' keep-alive
 * must read what they sent meanwhile before it judges them silent: as it resumes, Node runs the
 * overdue timers before it reads the sockets. The clients run in a child process, so they go on
 * sending while this process, the broker's, stands still.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { python, pythonModuleMissing } from '../helpers/interop.js';

const pahoMissing = pythonModuleMissing('paho.mqtt.client', 'paho', 'python3-paho-mqtt');

/** rhea answering the broker's idle-time-out; it says when its connection closes. */
const RHEA = `
import rhea from 'rhea';
import { createInterface } from 'node:readline';
const say = (line) => process.stdout.write(line + '\\n');
const a = rhea.create_container({ id: 'stall-amqp' }).connect({ host: '127.0.0.1', port: Number(process.argv[1]), reconnect: false });
a.on('connection_close', () => say('amqp closed'));
a.on('disconnected', () => say('amqp closed'));
a.on('connection_open', () => say('connected'));
createInterface({ input: process.stdin }).on('line', () => {
  const sender = a.open_sender('stall.check');
  sender.on('sendable', () => sender.sendable() && sender.send({ body: 'c' }));
  sender.on('accepted', () => say('amqp accepted'));
});
`;

/**
 * paho with keep-alive 2 s, publishing every 50 ms to a topic it subscribes to, so that it hears
 * from the broker until the stall: it pings 2 s into the stall and gives up 2 s later, while the
 * broker, at a grace of 1, judges it silent past 2 s.
 */
const PAHO = `
import sys, time, threading
import paho.mqtt.client as mqtt
say = lambda line: (sys.stdout.write(line + '\\n'), sys.stdout.flush())
m = mqtt.Client(client_id='stall-mqtt')
m.on_connect = lambda c, u, f, rc: (c.subscribe('stall/beat', qos=0), say('connected'))
m.on_disconnect = lambda c, u, rc: say('mqtt closed')
m.connect('127.0.0.1', int(sys.argv[1]), keepalive=2)
m.loop_start()
def beat():
    while True:
        m.publish('stall/beat', 'b', qos=0)
        time.sleep(0.05)
threading.Thread(target=beat, daemon=True).start()
sys.stdin.readline()
info = m.publish('stall/check', 'c', qos=1)
info.wait_for_publish(10)
say('mqtt acknowledged' if info.is_published() else 'mqtt failed')
time.sleep(30)
`;

let broker: TestBroker;
before(async () => {
  // MQTT: late past the keep-alive itself; AMQP: the broker wants a frame every 300 ms, late past 600
  broker = await startBroker({ 'mqtt.keepAliveGrace': 1, 'amqp.idleTimeout': 300 });
});
after(async () => {
  await broker?.stop();
});

/** Blocks this process (the broker's event loop) without spinning, as a stopped or suspended broker stands still. */
function standStill(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test('paho and rhea: a broker that stood still past their keep-alive keeps them, their packets read before their silence is judged', { skip: pahoMissing }, async () => {
  const children = [spawn(python, ['-c', PAHO, String(broker.mqttPort)], { stdio: ['pipe', 'pipe', 'inherit'] }), spawn(process.execPath, ['--input-type=module', '-e', RHEA, String(broker.amqpPort)], { stdio: ['pipe', 'pipe', 'inherit'] })];
  const seen: string[] = [];
  const waiters: (() => void)[] = [];
  for (const child of children) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      seen.push(line);
      for (const w of waiters.splice(0)) w();
    });
  }
  const until = async (what: (lines: string[]) => boolean): Promise<void> => {
    while (!what(seen)) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  try {
    await until((lines) => lines.filter((l) => l === 'connected').length === 2);
    // From an immediate, as when the process resumes: the loop's next turn starts with its timers,
    // every keep-alive check due, before the poll that reads what the clients sent meanwhile.
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        standStill(3000);
        resolve();
      }),
    );
    for (const child of children) child.stdin.write('go\n');
    await until((lines) => ['mqtt acknowledged', 'mqtt failed', 'mqtt closed'].some((l) => lines.includes(l)) && ['amqp accepted', 'amqp closed'].some((l) => lines.includes(l)));
    assert.deepEqual(seen.filter((l) => l !== 'connected').sort(), ['amqp accepted', 'mqtt acknowledged']);
  } finally {
    for (const child of children) child.kill();
  }
});
