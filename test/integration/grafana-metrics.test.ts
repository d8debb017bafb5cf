import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startBroker } from '../helpers/broker.js';
import { RawStompClient } from '../helpers/raw-stomp.js';
import { dashboardMetrics } from '../helpers/grafana.js';

// The Grafana dashboard against a real broker's /metrics: every series its panels query is served
// (the unit test checks the names against the contract; this one against what the broker exposes).

test('a broker that has taken a message serves every metric the dashboard queries', async () => {
  const broker = await startBroker();
  try {
    const { raw } = await RawStompClient.connected(broker.stompPort);
    try {
      await raw.sendWithReceipt('SEND', { destination: '/queue/grafana.check', persistent: 'true' }, 'one');
      const response = await fetch(`http://127.0.0.1:${broker.server.ports['http']}/metrics`);
      assert.equal(response.status, 200);
      const text = await response.text();
      const served = new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)![0]));
      const missing = [...dashboardMetrics()].filter((name) => !served.has(name));
      assert.deepEqual(missing, [], 'metrics the dashboard queries that /metrics does not serve');
    } finally {
      raw.destroy();
    }
  } finally {
    await broker.stop();
  }
});
