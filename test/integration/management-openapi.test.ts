/** /api/v1/openapi.json describes every route the server answers, and nothing it does not. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/core/index.js';
import { ManagementServer } from '../../src/management/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { ApiClient } from '../helpers/management.js';

let broker: TestBroker;
let api: ApiClient;

before(async () => {
  broker = await startBroker();
  api = new ApiClient(broker.server.ports['http']!);
});

after(() => broker.stop());

const key = (method: string, path: string): string => `${method.toUpperCase()} ${path}`;

test('the served document is OpenAPI 3.1 and needs no credentials', async () => {
  const { status, body } = await api.get<{ openapi: string; paths: Record<string, unknown>; info: { title: string } }>('/api/v1/openapi.json');
  assert.equal(status, 200);
  assert.equal(body.openapi, '3.1.0');
  assert.equal(body.info.title, 'Ferry management API');
});

test('every route the server answers is in the document, and every documented route is answered, with the same permission', async () => {
  const { body } = await api.get<{ paths: Record<string, Record<string, { 'x-ferry-permission': string; responses: Record<string, unknown> }>> }>('/api/v1/openapi.json');
  const documented = new Map<string, string>();
  for (const [path, ops] of Object.entries(body.paths)) for (const [method, op] of Object.entries(ops)) documented.set(key(method, path), op['x-ferry-permission']);
  const server = new ManagementServer(broker.server.broker, { host: '127.0.0.1', port: 0 }, silentLogger);
  const routed = new Map(server.routes.map((r) => [key(r.method, r.path), r.permission as string]));
  assert.deepEqual([...routed.keys()].filter((k) => !documented.has(k)), [], 'answered but not documented');
  assert.deepEqual([...documented.keys()].filter((k) => !routed.has(k)), [], 'documented but not answered');
  for (const [k, permission] of routed) assert.equal(documented.get(k), permission, k);
  // and over the wire: no documented route is an unknown resource or a wrong method
  for (const k of documented.keys()) {
    const [method, template] = k.split(' ') as [string, string];
    const path = template.replace('{kind}', 'queue').replace(/\{\w+\}/g, 'probe');
    const answer = await api.call(method, path, method === 'POST' ? {} : undefined);
    assert.notEqual(answer.status, 405, k);
    assert.ok(!(answer.status === 404 && answer.body['code'] === 'FERRY_NOT_FOUND' && String(answer.body['error']).startsWith('no such resource')), k);
  }
});
