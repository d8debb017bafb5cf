import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { interopScript, python, pythonModuleMissing } from '../helpers/interop.js';

const script = interopScript('stomp_py_beating.py');
const missing = pythonModuleMissing('stomp', 'stomp.py', 'python3-stomp');

let broker: TestBroker;
before(async () => {
  // the client must beat every 50 ms, and is late past 75 ms of silence
  if (missing === undefined) broker = await startBroker({ 'stomp.heartbeatReceive': 50, 'stomp.heartbeatGrace': 1.5 });
});
after(async () => {
  await broker?.stop();
});

/** Blocks this process (the broker's event loop) without spinning, as a stopped or suspended broker stands still. */
function standStill(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test('stomp.py: a broker that stood still past the heart-beat keeps a client whose beats wait in its socket', { skip: missing }, async () => {
  const child = spawn(python, [script, String(broker.stompPort)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const reader = lines[Symbol.asyncIterator]();
  const next = async (): Promise<string> => String((await reader.next()).value);
  try {
    assert.equal(await next(), 'connected');
    // From an immediate, as when the process resumes: the loop's next turn starts with its timers,
    // every heart-beat check due, before the poll that reads the beats sent meanwhile.
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        standStill(600);
        resolve();
      }),
    );
    child.stdin.write('go\n');
    assert.equal(await next(), 'receipt');
  } finally {
    child.kill();
  }
});
