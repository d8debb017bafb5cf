import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { RawStompClient, eventually } from '../helpers/raw-stomp.js';

// A client's mistake is the client's: the broker logs its code and text at warn, without a stack
// (which would only say where Ferry noticed), and writes nothing to standard output but log lines.

let broker: BrokerProcess;

before(async () => {
  broker = await spawnBroker(['--data', join(mkdtempSync(join(tmpdir(), 'ferry-log-')), 'data'), '--stomp-port', '0', '--stomp-host', '127.0.0.1', '--log-level', 'debug']);
});

after(async () => {
  assert.equal(await broker.stop(), 0);
  assert.deepEqual(broker.otherOutput, [], 'nothing but the logger writes to standard output');
});

function stompErrors(code: string): Record<string, unknown>[] {
  return broker.logs.filter((l) => l['event'] === 'stomp.error' && l['code'] === code);
}

function assertNoStack(entry: Record<string, unknown>): void {
  const text = JSON.stringify(entry);
  assert.equal(entry['err'], undefined, text);
  assert.doesNotMatch(text, /"stack"|\\n\s+at /, 'no stack trace');
}

for (const [what, send, code] of [
  ['an ACK of a message never delivered', (raw: RawStompClient) => raw.send('ACK', { id: '1-1' }), 'FERRY_DELIVERY_NOT_FOUND'],
  ['a frame that does not parse', (raw: RawStompClient) => raw.write('BOGUS\n\n\0'), 'FERRY_STOMP_BAD_FRAME'],
  ['a SEND without a destination', (raw: RawStompClient) => raw.send('SEND', {}, 'x'), 'FERRY_STOMP_PROTOCOL'],
] as const) {
  test(`${what}: an ERROR frame with its code, and one warn line without a stack`, async () => {
    const { raw } = await RawStompClient.connected(broker.ports['stomp']!);
    try {
      const before = stompErrors(code).length;
      await send(raw);
      const frames = await raw.untilClosed();
      const error = frames.find((f) => f.command === 'ERROR');
      assert.equal(error?.headers.get('code'), code);
      await eventually(`a stomp.error log line for ${code}`, () => stompErrors(code).length > before);
      const entry = stompErrors(code).at(-1)!;
      assert.equal(entry['level'], 40, 'logged at warn');
      assert.equal(typeof entry['message'], 'string');
      assertNoStack(entry);
    } finally {
      raw.destroy();
    }
  });
}

test('a client that resets its socket is logged without a stack', async () => {
  const { raw } = await RawStompClient.connected(broker.ports['stomp']!);
  const before = broker.logs.filter((l) => l['event'] === 'stomp.socket-error').length;
  raw.socket.resetAndDestroy();
  await eventually('a stomp.socket-error log line', () => broker.logs.filter((l) => l['event'] === 'stomp.socket-error').length > before);
  const entry = broker.logs.filter((l) => l['event'] === 'stomp.socket-error').at(-1)!;
  assert.equal(entry['code'], 'ECONNRESET');
  assertNoStack(entry);
});
