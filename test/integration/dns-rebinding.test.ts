/**
 * A page whose DNS name was pointed at the broker after it loaded (DNS rebinding) sends requests
 * whose Host and Origin both name that page's host. Such requests must not get the rights of
 * anonymous clients from the management API, nor open a WebSocket; requests addressed to an IP
 * address, localhost or a configured name, and requests with credentials, go on as before.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hostAllowed } from '../../src/transport/index.js';
import { startBroker } from '../helpers/broker.js';
import { writeUsers } from '../helpers/security.js';
import { LogLines } from '../helpers/tls.js';
import { upgradeStatus } from '../helpers/ws.js';

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** A request to the broker on 127.0.0.1 with the given headers, Host among them, as a browser after rebinding sends it. */
function call(port: number, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ host: '127.0.0.1', port, method, path, headers: text === undefined ? headers : { ...headers, 'content-type': 'application/json' } });
    req.on('response', (res) => {
      let answer = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (answer += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: answer === '' ? {} : (JSON.parse(answer) as Record<string, unknown>) }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

test('the Host rule: IP addresses, localhost and names under it, and listed names pass; other names do not', () => {
  for (const host of [undefined, '127.0.0.1:8161', '10.1.2.3', '[::1]:8161', '[::ffff:127.0.0.1]', 'localhost:8161', 'LOCALHOST.', 'console.localhost:8161']) {
    assert.equal(hostAllowed(host, []), true, String(host));
  }
  for (const host of ['evil.example:8161', 'evil.example', 'localhost.evil.example', 'evillocalhost', '[evil]:1', 'evil.example@127.0.0.1', '127.0.0.1/x', '']) {
    assert.equal(hostAllowed(host, []), false, host);
  }
  assert.equal(hostAllowed('Broker.Example:8161', ['broker.example']), true, 'names compare without case');
  assert.equal(hostAllowed('mq.corp.example', ['.corp.example']), true, 'a leading dot takes the names under it');
  assert.equal(hostAllowed('corp.example', ['.corp.example']), true, 'and the name itself');
  assert.equal(hostAllowed('evilcorp.example', ['.corp.example']), false);
  assert.equal(hostAllowed('broker.example.evil', ['broker.example']), false);
  assert.equal(hostAllowed('anything.example', ['*']), true);
});

test('a broker without users: requests addressed to a foreign name are refused with 403 and logged; IP addresses and localhost are served', async () => {
  const logs = new LogLines();
  const broker = await startBroker({}, {}, undefined, logs);
  try {
    const http = broker.server.ports['http']!;
    const rebound = { host: `evil.example:${http}`, origin: `http://evil.example:${http}` };

    const whoami = await call(http, 'GET', '/api/v1/whoami', { host: rebound.host });
    assert.equal(whoami.status, 403);
    assert.equal(whoami.body['code'], 'FERRY_HOST_NOT_ALLOWED');
    assert.match(String(whoami.body['error']), /http\.allowedHosts/);
    const line = await logs.waitFor((l) => l['event'] === 'management.host-refused');
    assert.equal(line['host'], rebound.host);
    assert.equal(line['level'], 40);

    const create = await call(http, 'POST', '/api/v1/destinations', rebound, { kind: 'queue', name: 'rebound.q' });
    assert.equal(create.status, 403);
    assert.equal(create.body['code'], 'FERRY_HOST_NOT_ALLOWED');
    assert.equal((await call(http, 'GET', '/metrics', { host: rebound.host })).status, 403);
    assert.equal((await call(http, 'GET', '/api/v1/destinations/queue/rebound.q', { host: `127.0.0.1:${http}` })).status, 404, 'the queue was not made');

    for (const host of [`127.0.0.1:${http}`, `localhost:${http}`, `[::1]:${http}`, `ferry.localhost:${http}`]) {
      const answer = await call(http, 'GET', '/api/v1/whoami', { host });
      assert.equal(answer.status, 200, host);
      assert.equal(answer.body['manage'], true, host);
    }
    // the console served at http://localhost:PORT changes things through the API from its own page
    const fromConsole = await call(http, 'POST', '/api/v1/destinations', { host: `localhost:${http}`, origin: `http://localhost:${http}` }, { kind: 'queue', name: 'console.q' });
    assert.equal(fromConsole.status, 201);

    const ws = broker.wsPort;
    const refused = await upgradeStatus(ws, `http://evil.example:${ws}`, `evil.example:${ws}`);
    assert.equal(refused.status, 403);
    assert.match(refused.body, /allowedOrigins/);
    const wsLine = await logs.waitFor((l) => l['event'] === 'websocket.origin-refused');
    assert.equal(wsLine['host'], `evil.example:${ws}`);
    assert.equal(wsLine['level'], 40);
    assert.equal((await upgradeStatus(ws, `http://127.0.0.1:${ws}`, `127.0.0.1:${ws}`)).status, 101);
    assert.equal((await upgradeStatus(ws, `http://localhost:${ws}`, `localhost:${ws}`)).status, 101);
  } finally {
    await broker.stop();
  }
});

test('names in http.allowedHosts are served, and a page origin in websocket.allowedOrigins connects', async () => {
  const broker = await startBroker({ 'http.allowedHosts': ['broker.example', '.corp.example'], 'websocket.allowedOrigins': ['http://broker.example:8080'] });
  try {
    const http = broker.server.ports['http']!;
    for (const host of ['broker.example', `broker.example:${http}`, `mq.corp.example:${http}`, 'corp.example']) {
      assert.equal((await call(http, 'GET', '/api/v1/whoami', { host })).status, 200, host);
    }
    assert.equal((await call(http, 'GET', '/api/v1/whoami', { host: 'evilcorp.example' })).status, 403);
    assert.equal((await upgradeStatus(broker.wsPort, 'http://broker.example:8080', 'broker.example:8080')).status, 101);
    assert.equal((await upgradeStatus(broker.wsPort, 'http://evil.example:8080', 'evil.example:8080')).status, 403);
  } finally {
    await broker.stop();
  }
});

test('with users and security.anonymous: credentials may name any host, anonymous requests only a known one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-rebinding-'));
  const users = await writeUsers(dir, { admin: { password: 'admin-secret', groups: ['admins'] }, guest: { password: 'guest-secret' } });
  const broker = await startBroker({ 'security.users': users, 'security.anonymous': 'guest' });
  try {
    const http = broker.server.ports['http']!;
    const host = `mq01.example:${http}`;
    const admin = `Basic ${Buffer.from('admin:admin-secret').toString('base64')}`;
    const asAdmin = await call(http, 'GET', '/api/v1/whoami', { host, authorization: admin });
    assert.equal(asAdmin.status, 200);
    assert.equal(asAdmin.body['user'], 'admin');
    const anonymous = await call(http, 'GET', '/api/v1/whoami', { host });
    assert.equal(anonymous.status, 403);
    assert.equal(anonymous.body['code'], 'FERRY_HOST_NOT_ALLOWED');
    assert.equal((await call(http, 'GET', '/api/v1/whoami', { host: `127.0.0.1:${http}` })).status, 200, 'anonymous, by address');
    const wrong = await call(http, 'GET', '/api/v1/whoami', { host, authorization: `Basic ${Buffer.from('admin:nope').toString('base64')}` });
    assert.equal(wrong.status, 401);
  } finally {
    await broker.stop();
  }
});
