import assert from 'node:assert/strict';
import { test } from 'node:test';
import { originAllowed } from '../../src/transport/index.js';
import { startBroker } from '../helpers/broker.js';
import { LogLines } from '../helpers/tls.js';
import { upgradeStatus } from '../helpers/ws.js';

/** Opens a WebSocket with an Origin header (as a browser would); resolves with the upgrade's outcome. */
test('the Origin rule: none, the same IP address or localhost and port, a listed origin and * pass; any other page gets 403', () => {
  assert.equal(originAllowed(undefined, '127.0.0.1:61614', []), true, 'no Origin: not a browser');
  assert.equal(originAllowed('http://127.0.0.1:61614', '127.0.0.1:61614', []), true);
  assert.equal(originAllowed('http://LOCALHOST:61614', 'localhost:61614', []), true, 'host names compare without case');
  assert.equal(originAllowed('https://broker.example', 'broker.example', []), false, 'a name may have been pointed at the broker by another site (DNS rebinding): only a listed origin passes');
  assert.equal(originAllowed('https://broker.example', 'broker.example', ['https://broker.example']), true);
  assert.equal(originAllowed('http://127.0.0.1:8080', '127.0.0.1:61614', []), false, 'another port is another origin');
  assert.equal(originAllowed('https://evil.example', 'broker.example', []), false);
  assert.equal(originAllowed('https://app.example/', 'broker.example', ['https://app.example']), true);
  assert.equal(originAllowed('https://app.example.evil', 'broker.example', ['https://app.example']), false);
  assert.equal(originAllowed('https://anyone.example', 'broker.example', ['*']), true);
  assert.equal(originAllowed('null', 'broker.example', []), false, 'a sandboxed page names no host');
  assert.equal(originAllowed('not a url', undefined, []), false);
});

test('a WebSocket upgrade from a page of another site is refused with 403 and logged; others connect', async () => {
  const logs = new LogLines();
  const broker = await startBroker({ 'websocket.allowedOrigins': ['https://app.example'] }, {}, undefined, logs);
  try {
    const refused = await upgradeStatus(broker.wsPort, 'https://evil.example');
    assert.equal(refused.status, 403);
    assert.match(refused.body, /allowedOrigins/);
    const line = await logs.waitFor((l) => l['event'] === 'websocket.origin-refused');
    assert.equal(line['origin'], 'https://evil.example');
    assert.equal(line['level'], 40);

    assert.equal((await upgradeStatus(broker.wsPort, undefined)).status, 101, 'no Origin');
    assert.equal((await upgradeStatus(broker.wsPort, 'https://app.example')).status, 101, 'listed');
    assert.equal((await upgradeStatus(broker.wsPort, `http://127.0.0.1:${broker.wsPort}`)).status, 101, 'the broker\'s own host and port');
  } finally {
    await broker.stop();
  }
});

test('allowedOrigins * lets every page in', async () => {
  const broker = await startBroker({ 'websocket.allowedOrigins': ['*'] });
  try {
    assert.equal((await upgradeStatus(broker.wsPort, 'https://evil.example')).status, 101);
  } finally {
    await broker.stop();
  }
});
