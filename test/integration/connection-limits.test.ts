import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { startBroker } from '../helpers/broker.js';
import { connectStomp } from '../helpers/stomp.js';

test('listeners.stomp.maxConnections: a connection past the limit is dropped as it comes and logged; those within it work', async (t) => {
  const logLines: Record<string, unknown>[] = [];
  const broker = await startBroker({ 'listeners.stomp.maxConnections': 2 }, { logLines });
  t.after(() => broker.stop());
  const first = await connectStomp(broker.stompPort);
  const second = await connectStomp(broker.stompPort);
  const third = connect(broker.stompPort, '127.0.0.1');
  third.on('error', () => {});
  let got = 0;
  third.on('data', (chunk: Buffer) => (got += chunk.length));
  await new Promise((resolve) => third.once('close', resolve));
  assert.equal(got, 0, 'the dropped connection is closed before any protocol speaks');
  assert.ok(logLines.some((l) => l['event'] === 'listener.connection-dropped' && l['maxConnections'] === 2));
  await second.disconnect();
  await second.closed;
  while (broker.server.broker.stats().connections > 1) await new Promise((resolve) => setImmediate(resolve));
  // room again once one has gone
  const again = await connectStomp(broker.stompPort);
  await again.sendConfirmed('/queue/limits', 'in');
  await again.disconnect();
  await first.disconnect();
});
