import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { FerryError } from '../../src/errors.js';
import type { Authenticator, Authorizer, ConnectRequest, Destination, Operation, Principal } from '../../src/core/index.js';
import { runFerry } from '../helpers/process.js';
import { uniqueName } from '../helpers/raw-stomp.js';
import { connectStomp } from '../helpers/stomp.js';
import { makeCertificates, startTlsBroker, type TestCertificates, type TlsPorts } from '../helpers/tls.js';
import type { TestBroker } from '../helpers/broker.js';

/** Users admin (every right) and reader (browse on queues named reader.*), a token for the reader; nobody anonymous. */
class TestSecurity implements Authenticator, Authorizer {
  readonly requests: ConnectRequest[] = [];

  authenticate(request: ConnectRequest): Principal {
    if (request.internal === true) return { username: undefined, groups: [], internal: true };
    this.requests.push(request);
    const c = request.credentials;
    if (c?.token === 'reader-token') return { username: 'reader', groups: ['readers'], internal: false };
    if (c?.token === 'admin-token') return { username: 'admin', groups: ['admins'], internal: false };
    if (c?.username === 'admin' && c.password === 'admin:secret') return { username: 'admin', groups: ['admins'], internal: false };
    if (c?.username === 'reader' && c.password === 'reader-secret') return { username: 'reader', groups: ['readers'], internal: false };
    throw new FerryError('FERRY_AUTHENTICATION_FAILED', 'unknown user or wrong password');
  }

  authorize(principal: Principal, operation: Operation, destination: Destination): void {
    if (principal.internal || principal.groups.includes('admins')) return;
    if (principal.groups.includes('readers') && operation === 'browse' && destination.name.startsWith('reader.')) return;
    throw new FerryError('FERRY_NOT_AUTHORIZED', `${principal.username ?? 'anonymous'} may not ${operation} ${destination.kind}://${destination.name}`);
  }
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: { code?: string; error?: string } & Record<string, unknown>;
}

function call(port: number, method: string, path: string, headers: Record<string, string> = {}, ca?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, method, path, headers };
    const req = ca === undefined ? httpRequest(options) : httpsRequest({ ...options, ca, servername: 'localhost' });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Answer['body']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

let certs: TestCertificates;
let broker: TestBroker & { readonly tlsPorts: TlsPorts };
let http: number;
const security = new TestSecurity();

before(async () => {
  certs = makeCertificates();
  broker = await startTlsBroker(certs, { 'http.allowedOrigins': ['https://Console.example/'] }, { authenticator: security, authorizer: security });
  http = broker.server.ports['http']!;
});

after(async () => {
  await broker?.stop();
});

/** Puts one message on a queue (as admin over STOMP), so reads have something to show. */
async function fill(queue: string): Promise<void> {
  const client = await connectStomp(broker.stompPort, { headers: { login: 'admin', passcode: 'admin:secret' } });
  await client.sendConfirmed(`/queue/${queue}`, 'hello');
  await client.disconnect();
}

describe('management API authentication', () => {
  test('no credentials: 401 with a Basic challenge and a JSON code, on every route', async () => {
    for (const [method, path] of [
      ['GET', '/api/stats'],
      ['GET', '/api/store'],
      ['GET', '/api/queues/q/messages'],
      ['DELETE', '/api/queues/q/messages'],
      // outside /api a path is the web console's page, served to anyone (test/integration/console-static.test.ts)
      ['GET', '/api/no/such/route'],
    ] as const) {
      const answer = await call(http, method, path);
      assert.equal(answer.status, 401, `${method} ${path}`);
      assert.equal(answer.headers['www-authenticate'], 'Basic realm="ferry"');
      assert.equal(answer.body.code, 'FERRY_AUTHENTICATION_FAILED');
      assert.ok(typeof answer.body.error === 'string' && answer.body.error !== '');
    }
  });

  test('Basic credentials reach the authenticator as user and password (a colon in the password kept), with protocol http and the address', async () => {
    const answer = await call(http, 'GET', '/api/stats', { authorization: basic('admin', 'admin:secret') });
    assert.equal(answer.status, 200);
    assert.ok(Array.isArray(answer.body['queues']));
    const seen = security.requests.at(-1)!;
    assert.equal(seen.protocol, 'http');
    assert.deepEqual(seen.credentials, { username: 'admin', password: 'admin:secret' });
    assert.match(seen.transport.remoteAddress, /^127\.0\.0\.1:\d+$/, 'the address as every transport gives it');
    assert.equal((await call(http, 'GET', '/api/stats', { authorization: basic('admin', 'wrong') })).status, 401);
  });

  test('a Bearer token reaches the authenticator as a token', async () => {
    const answer = await call(http, 'GET', '/api/v1/whoami', { authorization: 'Bearer reader-token' });
    assert.equal(answer.status, 200);
    assert.equal(answer.body['user'], 'reader');
    assert.deepEqual(security.requests.at(-1)!.credentials, { token: 'reader-token' });
    assert.equal((await call(http, 'GET', '/api/v1/whoami', { authorization: 'Bearer other' })).status, 401);
  });

  test('an Authorization header of another scheme, or unreadable, is a 401', async () => {
    for (const header of ['Digest abc', 'Basic', 'Basic bm9jb2xvbg==']) {
      const answer = await call(http, 'GET', '/api/stats', { authorization: header });
      assert.equal(answer.status, 401, header);
      assert.equal(answer.body.code, 'FERRY_AUTHENTICATION_FAILED');
    }
  });
});

describe('management API authorization', () => {
  test('the routes before v1 that list the broker need monitor, as every GET of v1 does', async () => {
    for (const path of ['/api/stats', '/api/store', '/api/v1/destinations']) {
      const refused = await call(http, 'GET', path, { authorization: 'Bearer reader-token' });
      assert.equal(refused.status, 403, path);
      assert.equal(refused.body.code, 'FERRY_NOT_AUTHORIZED', path);
      assert.equal((await call(http, 'GET', path, { authorization: 'Bearer admin-token' })).status, 200, path);
    }
  });

  test('reading a queue\'s whole messages or purging it before v1 needs management.manage, as in v1, before the queue\'s browse or admin right', async () => {
    const readable = uniqueName('reader.q');
    await fill(readable);
    // the reader may browse reader.* but is no manager
    const reader = { authorization: basic('reader', 'reader-secret') };
    for (const method of ['GET', 'DELETE']) {
      const refused = await call(http, method, `/api/queues/${readable}/messages`, reader);
      assert.equal(refused.status, 403, method);
      assert.equal(refused.body.code, 'FERRY_NOT_AUTHORIZED');
      assert.match(refused.body.error ?? '', /management\.manage/);
      assert.equal(refused.headers['www-authenticate'], undefined);
    }
    const admin = { authorization: basic('admin', 'admin:secret') };
    const read = await call(http, 'GET', `/api/queues/${readable}/messages`, admin);
    assert.equal(read.status, 200);
    assert.equal((read.body as unknown as { bodyBytes: number }[])[0]?.bodyBytes, 'hello'.length, 'the refused purge dropped nothing');
    const purged = await call(http, 'DELETE', `/api/queues/${readable}/messages`, admin);
    assert.equal(purged.status, 200);
    assert.equal(purged.body['purged'], 1);
  });
});

describe('management API against cross-site use', () => {
  const admin = (): Record<string, string> => ({ authorization: basic('admin', 'admin:secret') });

  test('every answer carries nosniff, no-store and DENY, and no CORS header', async () => {
    for (const headers of [{}, admin(), { ...admin(), origin: 'https://elsewhere.example' }]) {
      const answer = await call(http, 'GET', '/api/stats', headers);
      assert.equal(answer.headers['x-content-type-options'], 'nosniff');
      assert.equal(answer.headers['cache-control'], 'no-store');
      assert.equal(answer.headers['x-frame-options'], 'DENY');
      assert.deepEqual(
        Object.keys(answer.headers).filter((h) => h.startsWith('access-control-')),
        [],
      );
    }
  });

  test('a purge from another site\'s page is refused, even with valid credentials; the same site and scripts go through', async () => {
    const queue = uniqueName('csrf.q');
    await fill(queue);
    const path = `/api/queues/${queue}/messages`;
    for (const extra of [{ origin: 'https://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }]) {
      const answer = await call(http, 'DELETE', path, { ...admin(), ...extra });
      assert.equal(answer.status, 403, JSON.stringify(extra));
      assert.equal(answer.body.code, 'FERRY_CROSS_SITE_REQUEST');
    }
    assert.equal((await call(http, 'GET', path, admin())).body.length, 1, 'nothing was purged');
    // a GET from elsewhere is not refused for its origin: it changes nothing, and without CORS the page cannot read it
    assert.equal((await call(http, 'GET', path, { ...admin(), origin: 'https://evil.example' })).status, 200);
    const sameSite = await call(http, 'DELETE', path, { ...admin(), origin: `http://127.0.0.1:${http}`, 'sec-fetch-site': 'same-origin' });
    assert.equal(sameSite.status, 200);
    assert.equal(sameSite.body['purged'], 1);
  });
});

describe('management API behind a reverse proxy', () => {
  const admin = (): Record<string, string> => ({ authorization: basic('admin', 'admin:secret') });

  test('a change from the console\'s own page is served when a proxy rewrote Host: the browser says same-origin, or the proxy names the host; other pages stay refused, and told how to fix it', async () => {
    const queue = uniqueName('proxied.q');
    const path = `/api/v1/destinations/queue/${queue}/purge`;
    // nginx's plain proxy_pass: Host is the upstream's, the browser's Origin the proxy's
    const proxied = { ...admin(), host: `127.0.0.1:${http}`, origin: 'https://broker.example:8443' };
    const purge = async (extra: Record<string, string>): Promise<Answer> => {
      await fill(queue);
      return call(http, 'POST', path, { ...proxied, ...extra });
    };
    for (const extra of [
      { 'sec-fetch-site': 'same-origin' },
      { 'x-forwarded-host': 'broker.example:8443', 'x-forwarded-proto': 'https' },
      { 'x-forwarded-host': 'broker.example:8443, inner.proxy:80' },
    ]) {
      const answer = await purge(extra);
      assert.equal(answer.status, 200, JSON.stringify(extra));
      assert.equal(answer.body['purged'], 1);
    }
    await fill(queue);
    for (const extra of [
      {},
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'cross-site', 'x-forwarded-host': 'broker.example:8443' },
      { 'x-forwarded-host': 'broker.example:8443', 'x-forwarded-proto': 'http' },
      { 'x-forwarded-host': 'other.example:8443' },
    ]) {
      const answer = await call(http, 'POST', path, { ...proxied, ...extra });
      assert.equal(answer.status, 403, JSON.stringify(extra));
      assert.equal(answer.body.code, 'FERRY_CROSS_SITE_REQUEST');
      assert.match(answer.body.error ?? '', /proxy_set_header Host \$http_host.*X-Forwarded-Host.*http\.allowedOrigins/);
    }
    const left = await call(http, 'GET', `/api/v1/destinations/queue/${queue}`, admin());
    assert.equal(left.body['depth'], 1, 'the refused purges dropped nothing');
  });

  test('an origin in http.allowedOrigins is served as the broker\'s own, whatever Host and Sec-Fetch-Site say', async () => {
    const queue = uniqueName('listed.q');
    await fill(queue);
    const answer = await call(http, 'DELETE', `/api/queues/${queue}/messages`, { ...admin(), host: 'internal:1', origin: 'https://console.example', 'sec-fetch-site': 'cross-site' });
    assert.equal(answer.status, 200);
    assert.equal(answer.body['purged'], 1);
  });
});

describe('management API over https', () => {
  test('answers with the configured certificate, with the same rules', async () => {
    const ca = certs.pem(certs.ca);
    assert.equal((await call(broker.tlsPorts.http, 'GET', '/api/stats', {}, ca)).status, 401);
    const answer = await call(broker.tlsPorts.http, 'GET', '/api/stats', { authorization: 'Bearer admin-token' }, ca);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['x-frame-options'], 'DENY');
  });
});

describe('ferry stat, purge and store log in', () => {
  test('with --user/--password, FERRY_TOKEN, and over https with --tls --ca or --url https://; a refusal prints the code and exits 3', async () => {
    const port = String(http);
    const refused = await runFerry(['stat', '--http-port', port]);
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /FERRY_AUTHENTICATION_FAILED/);

    const ok = await runFerry(['stat', '--http-port', port, '--json', '--user', 'admin', '--password', 'admin:secret']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(Array.isArray((JSON.parse(ok.stdout) as { queues: unknown }).queues));

    const byEnv = await runFerry(['stat', '--http-port', port, '--json'], { env: { FERRY_TOKEN: 'admin-token' } });
    assert.equal(byEnv.code, 0, byEnv.stderr);
    const notMonitor = await runFerry(['stat', '--http-port', port], { env: { FERRY_TOKEN: 'reader-token' } });
    assert.equal(notMonitor.code, 3);
    assert.match(notMonitor.stderr, /FERRY_NOT_AUTHORIZED/);

    const queue = uniqueName('cli.q');
    await fill(queue);
    const forbidden = await runFerry(['purge', queue, '--http-port', port], { env: { FERRY_USER: 'reader', FERRY_PASSWORD: 'reader-secret' } });
    assert.equal(forbidden.code, 3);
    assert.match(forbidden.stderr, /FERRY_NOT_AUTHORIZED/);

    const overTls = await runFerry(['purge', queue, '--http-port', String(broker.tlsPorts.http), '--host', 'localhost', '--tls', '--ca', certs.ca, '--user', 'admin', '--password', 'admin:secret']);
    assert.equal(overTls.code, 0, overTls.stderr);
    assert.match(overTls.stdout, /purged 1 message from/);
    await fill(queue);
    const byUrl = await runFerry(['purge', queue, '--url', `https://localhost:${broker.tlsPorts.http}`, '--ca', certs.ca, '--user', 'admin', '--password', 'admin:secret']);
    assert.equal(byUrl.code, 0, byUrl.stderr);
    assert.match(byUrl.stdout, /purged 1 message from/);

    const untrusted = await runFerry(['stat', '--http-port', String(broker.tlsPorts.http), '--host', 'localhost', '--tls', '--token', 'reader-token']);
    assert.equal(untrusted.code, 2, 'without --ca the test CA is not trusted');
    assert.match(untrusted.stderr, /^ferry: FERRY_CLI_UNTRUSTED: the broker at https:\/\/localhost:\d+ presented a certificate this tool does not trust: .*\(give its authority with --ca\)/);
  });
});

describe('management API with the broker\'s own security (users file, authorization entries)', () => {
  test('Basic with a user\'s password, Bearer with one of its tokens; rights from the entries; anonymous refused once users exist', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { readUsersFile, tokenHash, writeUsersFile } = await import('../../src/security/users-file.js');
    const { ADMIN_AND_READER, ADMIN_AND_READER_RIGHTS, writeUsers } = await import('../helpers/security.js');
    const { startBroker } = await import('../helpers/broker.js');
    const usersFile = await writeUsers(mkdtempSync(join(tmpdir(), 'ferry-users-')), ADMIN_AND_READER);
    const model = readUsersFile(usersFile);
    const reader = model.users.get('reader')!;
    model.users.set('reader', { ...reader, tokens: [tokenHash('reader-api-token')] });
    writeUsersFile(usersFile, model);
    const secure = await startBroker({ 'security.users': usersFile, 'security.authorization': ADMIN_AND_READER_RIGHTS });
    try {
      const port = secure.server.ports['http']!;
      const anonymous = await call(port, 'GET', '/api/stats');
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.body.code, 'FERRY_AUTHENTICATION_FAILED');
      assert.equal((await call(port, 'GET', '/api/stats', { authorization: basic('admin', 'admin-secret') })).status, 200);
      assert.equal((await call(port, 'GET', '/api/v1/whoami', { authorization: 'Bearer reader-api-token' })).status, 200);
      assert.equal((await call(port, 'GET', '/api/stats', { authorization: 'Bearer reader-api-token' })).status, 403, 'a reader is not a monitor');
      const browse = await call(port, 'GET', '/api/queues/secure.q/messages', { authorization: 'Bearer reader-api-token' });
      assert.equal(browse.status, 403, 'readers may consume secure.q, not browse it');
      assert.equal(browse.body.code, 'FERRY_NOT_AUTHORIZED');
      assert.equal((await call(port, 'GET', '/api/queues/secure.q/messages', { authorization: basic('admin', 'admin-secret') })).status, 404, 'admin may browse; the queue does not exist yet');
    } finally {
      await secure.stop();
    }
  });
});
