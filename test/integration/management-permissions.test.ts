/**
 * Who may call what: every documented route with no credentials (401), with a user holding neither
 * permission, monitor only, and manage (403 where it falls short), the destination rights on top,
 * and `management.monitor` / `management.manage` from the configuration.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FerryError } from '../../src/errors.js';
import type { Authenticator, Authorizer, ConnectRequest, Destination, Operation, Principal } from '../../src/core/index.js';
import { openApiDocument } from '../../src/management/openapi.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { ApiClient, basicAuth } from '../helpers/management.js';
import { eventually, subscribeConfirmed, uniqueName } from '../helpers/raw-stomp.js';
import { connectStomp } from '../helpers/stomp.js';

/** admin (admins), watcher (monitors), nobody (no group), ops (ops), boxed (admins, but no rights on secret.*, and may not create fixed.*); no anonymous. */
class TestSecurity implements Authenticator, Authorizer {
  authenticate(request: ConnectRequest): Principal {
    if (request.internal === true) return { username: undefined, groups: [], internal: true };
    const c = request.credentials;
    const groups: Record<string, string[]> = { admin: ['admins'], watcher: ['monitors'], nobody: [], ops: ['ops'], boxed: ['admins'] };
    if (c?.username !== undefined && c.password === `${c.username}-pw` && groups[c.username] !== undefined) return { username: c.username, groups: groups[c.username]!, internal: false };
    throw new FerryError('FERRY_AUTHENTICATION_FAILED', 'unknown user or wrong password');
  }

  authorize(principal: Principal, operation: Operation, destination: Destination): void {
    if (principal.username === 'boxed' && destination.name.startsWith('secret.')) throw new FerryError('FERRY_NOT_AUTHORIZED', `boxed may not ${operation} ${destination.name}`);
    if (principal.username === 'boxed' && operation === 'create' && destination.name.startsWith('fixed.')) throw new FerryError('FERRY_NOT_AUTHORIZED', `boxed may not create ${destination.name}`);
  }
}

type Level = 'public' | 'authenticated' | 'monitor' | 'manage';

/** Every documented route with its permission, its path made concrete. */
const routes: { method: string; path: string; permission: Level }[] = Object.entries(openApiDocument.paths).flatMap(([template, ops]) =>
  Object.entries(ops as unknown as Record<string, { 'x-ferry-permission': Level }>).map(([method, op]) => ({
    method: method.toUpperCase(),
    path: template.replace('{kind}', 'queue').replace(/\{\w+\}/g, 'perm.q'),
    permission: op['x-ferry-permission'],
  })),
);

let broker: TestBroker;
let api: ApiClient;
const as = (user: string): ApiClient => api.as(basicAuth(user, `${user}-pw`));

before(async () => {
  const security = new TestSecurity();
  broker = await startBroker({}, { authenticator: security, authorizer: security });
  api = new ApiClient(broker.server.ports['http']!);
});

after(() => broker.stop());

describe('permission levels on every route', () => {
  test('the routes cover each level', () => {
    for (const level of ['public', 'authenticated', 'monitor', 'manage'] as const) assert.ok(routes.some((r) => r.permission === level), level);
  });

  test('no credentials, or wrong ones: 401 with a Basic challenge on every route but the OpenAPI document', async () => {
    for (const r of routes) {
      const anonymous = await api.call(r.method, r.path, r.method === 'POST' ? {} : undefined);
      const wrong = await api.as(basicAuth('admin', 'nope')).call(r.method, r.path, r.method === 'POST' ? {} : undefined);
      if (r.permission === 'public') {
        assert.equal(anonymous.status, 200, `${r.method} ${r.path}`);
        continue;
      }
      for (const answer of [anonymous, wrong]) {
        assert.equal(answer.status, 401, `${r.method} ${r.path}`);
        assert.equal(answer.body['code'], 'FERRY_AUTHENTICATION_FAILED');
        assert.equal(answer.headers.get('www-authenticate'), 'Basic realm="ferry"');
      }
    }
  });

  test('a user with neither permission: 403 on monitor and manage routes', async () => {
    for (const r of routes) {
      const answer = await as('nobody').call(r.method, r.path, r.method === 'POST' ? {} : undefined);
      if (r.permission === 'monitor' || r.permission === 'manage') {
        assert.equal(answer.status, 403, `${r.method} ${r.path}`);
        assert.equal(answer.body['code'], 'FERRY_NOT_AUTHORIZED');
        assert.match(String(answer.body['error']), new RegExp(`management\\.${r.permission}`));
      } else assert.notEqual(answer.status, 403, `${r.method} ${r.path}`);
    }
  });

  test('a monitor: every GET but a message body; 403 on every change', async () => {
    for (const r of routes) {
      const answer = await as('watcher').call(r.method, r.path, r.method === 'POST' ? {} : undefined);
      if (r.permission === 'manage') assert.equal(answer.status, 403, `${r.method} ${r.path}`);
      else assert.ok(answer.status !== 401 && answer.status !== 403, `${r.method} ${r.path}: ${answer.status}`);
    }
    assert.deepEqual((await as('watcher').get('/api/v1/whoami')).body, { user: 'watcher', groups: ['monitors'], monitor: true, manage: false });
    // nor whole messages in a page of them
    const q = uniqueName('bodies');
    assert.equal((await as('admin').post(`/api/v1/destinations/queue/${q}/messages`, { body: 'secret' })).status, 201);
    const refused = await as('watcher').get(`/api/v1/queues/${q}/messages?full=true`);
    assert.equal(refused.status, 403);
    assert.equal(refused.body['code'], 'FERRY_NOT_AUTHORIZED');
    assert.equal((await as('watcher').get<Record<string, any>>(`/api/v1/queues/${q}/messages`)).body['items'].length, 1);
    const whole = await as('admin').get<Record<string, any>>(`/api/v1/queues/${q}/messages?full=true`);
    assert.deepEqual(whole.body['items'].map((m: Record<string, any>) => [m['body'].encoding, m['body'].data]), [['text', 'secret']]);
  });

  test('a manager: no route refuses', async () => {
    for (const r of routes) {
      const answer = await as('admin').call(r.method, r.path, r.method === 'POST' ? {} : undefined);
      assert.ok(answer.status !== 401 && answer.status !== 403, `${r.method} ${r.path}: ${answer.status}`);
    }
    assert.deepEqual((await as('admin').get('/api/v1/whoami')).body, { user: 'admin', groups: ['admins'], monitor: true, manage: true });
  });
});

describe('destination rights on top', () => {
  test('browse, send, purge, move and delete need the destination\'s right', async () => {
    const admin = as('admin');
    for (const name of ['secret.box', 'open.box']) assert.equal((await admin.post(`/api/v1/destinations/queue/${name}/messages`, { body: name })).status, 201);
    const boxed = as('boxed');
    const calls: [string, string, unknown?][] = [
      ['GET', '/api/v1/queues/{q}/messages'],
      ['POST', '/api/v1/destinations/queue/{q}/messages', { body: 'x' }],
      ['POST', '/api/v1/destinations/queue/{q}/purge'],
      ['POST', '/api/v1/destinations/queue/{q}/pause'],
      ['POST', '/api/v1/queues/{q}/messages/copy', { to: 'queue://open.copies' }],
      ['POST', '/api/v1/queues/{q}/messages/retry', {}],
      ['DELETE', '/api/v1/destinations/queue/{q}'],
    ];
    for (const [method, path, body] of calls) {
      const refused = await boxed.call(method, path.replace('{q}', 'secret.box'), body);
      assert.equal(refused.status, 403, `${method} ${path}`);
      assert.equal(refused.body['code'], 'FERRY_NOT_AUTHORIZED');
      const allowed = await boxed.call(method, path.replace('{q}', 'open.box'), body);
      assert.ok(allowed.status < 300, `${method} ${path}: ${allowed.status}`);
    }
    // the target of a move counts too
    await admin.post('/api/v1/destinations/queue/open.two/messages', { body: 'y' });
    assert.equal((await boxed.post('/api/v1/queues/open.two/messages/move', { to: 'queue://secret.box' })).status, 403);
  });

  test('a send that would create its destination needs the right to create it', async () => {
    const existing = uniqueName('fixed.existing');
    const fresh = uniqueName('fixed.fresh');
    assert.equal((await as('admin').post('/api/v1/destinations', { kind: 'queue', name: existing })).status, 201);
    const boxed = as('boxed');
    assert.equal((await boxed.post(`/api/v1/destinations/queue/${existing}/messages`, { body: 'x' })).status, 201);
    const refused = await boxed.post(`/api/v1/destinations/queue/${fresh}/messages`, { body: 'x' });
    assert.equal(refused.status, 403);
    assert.equal(refused.body['code'], 'FERRY_NOT_AUTHORIZED');
    assert.equal((await as('admin').get(`/api/v1/destinations/queue/${fresh}`)).status, 404);
  });
});

describe('the routes before v1', () => {
  test('ask what their v1 forms ask: a purge and whole messages need management.manage first, whatever the user\'s rights on the queue', async () => {
    // nobody and watcher hold every right on every queue (admin among them), and no management.manage
    const q = uniqueName('legacy.q');
    for (const body of ['one', 'two']) assert.equal((await as('admin').post(`/api/v1/destinations/queue/${q}/messages`, { body })).status, 201);
    for (const user of ['nobody', 'watcher']) {
      const purge = await as(user).delete(`/api/queues/${q}/messages`);
      assert.equal(purge.status, 403, user);
      assert.equal(purge.body['code'], 'FERRY_NOT_AUTHORIZED');
      assert.match(String(purge.body['error']), /management\.manage/);
      assert.equal((await as(user).post(`/api/v1/destinations/queue/${q}/purge`)).status, 403, user);
      const read = await as(user).get(`/api/queues/${q}/messages`);
      assert.equal(read.status, 403, user);
      assert.doesNotMatch(read.text, /one|two/, 'no body in the refusal');
      assert.equal((await as(user).get(`/api/v1/queues/${q}/messages?full=true`)).status, 403, user);
    }
    assert.equal((await as('admin').get(`/api/v1/destinations/queue/${q}`)).body['depth'], 2, 'the refused purges dropped nothing');
    // a manager still needs the queue's own rights, as in v1
    const secret = uniqueName('secret.legacy');
    assert.equal((await as('admin').post(`/api/v1/destinations/queue/${secret}/messages`, { body: 's' })).status, 201);
    assert.equal((await as('boxed').get(`/api/queues/${secret}/messages`)).status, 403);
    assert.equal((await as('boxed').delete(`/api/queues/${secret}/messages`)).status, 403);
    const read = await as('admin').get<{ body: string }[]>(`/api/queues/${q}/messages`);
    assert.deepEqual(read.body.map((m) => m.body), ['one', 'two']);
    assert.deepEqual((await as('admin').delete(`/api/queues/${q}/messages`)).body, { queue: q, purged: 2 });
  });
});

describe('rights on where messages go and on what they were bound for', () => {
  test('a retry needs the send right on each dead letter\'s original destination: one it may not send to refuses them all, from a copy too', async () => {
    const admin = as('admin');
    const boxed = as('boxed');
    const dlq = 'ActiveMQ.DLQ';
    const dead = async (queue: string): Promise<string> => {
      // rejected by a STOMP client (NACK): a dead letter whose original destination is `queue`
      const client = await connectStomp(broker.stompPort, { headers: { login: 'admin', passcode: 'admin-pw' } });
      try {
        await client.sendConfirmed(`/queue/${queue}`, queue, { persistent: 'true' });
        const inbox = await subscribeConfirmed(client, `/queue/${queue}`, { ack: 'client-individual' });
        const m = await inbox.next();
        m.nack();
        const id = m.headers['message-id']!;
        await eventually('the message is dead-lettered', () => broker.server.broker.admin.destinationList().some((d) => d.name === dlq) && broker.server.broker.admin.browse(dlq, `JMSMessageID = '${id}'`, 0, 1).items.length === 1);
        return id;
      } finally {
        await client.disconnect();
      }
    };
    const secret = await dead(uniqueName('secret.retry'));
    const open = await dead(uniqueName('open.retry'));
    const depth = async (queue: string): Promise<number> => ((await admin.get(`/api/v1/destinations/queue/${queue}`)).body['depth'] as number);

    for (const pick of [{ ids: [secret] }, {}]) {
      const refused = await boxed.post(`/api/v1/queues/${dlq}/messages/retry`, pick);
      assert.equal(refused.status, 403, JSON.stringify(pick));
      assert.equal(refused.body['code'], 'FERRY_NOT_AUTHORIZED');
    }
    assert.equal(await depth(dlq), 2);
    // a copy keeps the original destination, so a retry from the copy is no way round
    const replay = uniqueName('open.replay');
    assert.deepEqual((await boxed.post(`/api/v1/queues/${dlq}/messages/copy`, { to: `queue://${replay}`, ids: [secret] })).body, { copied: 1, inFlight: [] });
    assert.equal((await boxed.post(`/api/v1/queues/${replay}/messages/retry`, {})).status, 403);
    assert.equal(await depth(replay), 1);
    // what it may send to, it retries
    assert.deepEqual((await boxed.post(`/api/v1/queues/${dlq}/messages/retry`, { ids: [open] })).body, { retried: 1, inFlight: [] });
    assert.deepEqual((await admin.post(`/api/v1/queues/${dlq}/messages/retry`, { ids: [secret] })).body, { retried: 1, inFlight: [] });
  });

  test('cancelling a scheduled message needs the admin right on its destination', async () => {
    const client = await connectStomp(broker.stompPort, { headers: { login: 'admin', passcode: 'admin-pw' } });
    const secret = uniqueName('secret.sched');
    const open = uniqueName('open.sched');
    try {
      await client.sendConfirmed(`/queue/${secret}`, 'later', { AMQ_SCHEDULED_DELAY: '3600000', persistent: 'true' });
      await client.sendConfirmed(`/queue/${open}`, 'later', { AMQ_SCHEDULED_DELAY: '3600000', persistent: 'true' });
    } finally {
      await client.disconnect();
    }
    const jobs = (await as('admin').get<{ items: Record<string, string>[] }>('/api/v1/scheduled?limit=1000')).body.items;
    const jobFor = (queue: string): string => jobs.find((j) => j['destination'] === `queue://${queue}`)!['id']!;
    const refused = await as('boxed').delete(`/api/v1/scheduled/${encodeURIComponent(jobFor(secret))}`);
    assert.equal(refused.status, 403);
    assert.equal(refused.body['code'], 'FERRY_NOT_AUTHORIZED');
    const left = (await as('admin').get<{ items: Record<string, string>[] }>('/api/v1/scheduled?limit=1000')).body.items;
    assert.ok(left.some((j) => j['id'] === jobFor(secret)), 'the refused cancel left the message scheduled');
    assert.equal((await as('boxed').delete(`/api/v1/scheduled/${encodeURIComponent(jobFor(open))}`)).status, 204);
    assert.equal((await as('admin').delete(`/api/v1/scheduled/${encodeURIComponent(jobFor(secret))}`)).status, 204);
  });
});

describe('management.monitor and management.manage from the configuration', () => {
  test('the configured groups replace the defaults', async () => {
    const security = new TestSecurity();
    const other = await startBroker({ 'management.manage': ['ops'], 'management.monitor': [] }, { authenticator: security, authorizer: security });
    try {
      const client = new ApiClient(other.server.ports['http']!);
      const ops = client.as(basicAuth('ops', 'ops-pw'));
      assert.deepEqual((await ops.get('/api/v1/whoami')).body, { user: 'ops', groups: ['ops'], monitor: true, manage: true });
      assert.equal((await ops.post('/api/v1/destinations', { kind: 'queue', name: 'by.ops' })).status, 201);
      assert.equal((await client.as(basicAuth('admin', 'admin-pw')).get('/api/v1/broker')).status, 403);
      assert.equal((await client.as(basicAuth('watcher', 'watcher-pw')).get('/metrics')).status, 403);
    } finally {
      await other.stop();
    }
  });

  test('without destination rights configured everyone has both', async () => {
    const open = await startBroker();
    try {
      const client = new ApiClient(open.server.ports['http']!);
      assert.deepEqual((await client.get('/api/v1/whoami')).body, { user: null, groups: [], monitor: true, manage: true });
    } finally {
      await open.stop();
    }
  });
});
