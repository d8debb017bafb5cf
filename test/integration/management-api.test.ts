/**
 * Every management API v1 route against a real broker on port 0, with fetch(): what it answers,
 * and its 404s and 400s. Clients are real (@stomp/stompjs); permissions are in
 * management-permissions.test.ts, metrics in management-metrics.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import amqplib from 'amqplib';
import { silentLogger } from '../../src/core/index.js';
import { ManagementServer } from '../../src/management/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { ApiClient } from '../helpers/management.js';
import { eventually, subscribeConfirmed, uniqueName, withReceipt } from '../helpers/raw-stomp.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';

interface Destination {
  kind: string;
  name: string;
  depth: number;
  inFlight: number;
  enqueued: number;
  dequeued: number;
  consumers: number;
  producers: number;
  paused: boolean;
  temporary: boolean;
}
interface Page<T> {
  total: number;
  offset: number;
  limit: number;
  items: T[];
  more?: boolean;
}
type Summary = Record<string, unknown> & { id: string; deliveryCount: number; originalDestination: string | null; bodyBytes: number };

let broker: TestBroker;
let api: ApiClient;
const clients: StompTestClient[] = [];

before(async () => {
  broker = await startBroker();
  api = new ApiClient(broker.server.ports['http']!);
});

after(async () => {
  for (const c of clients) await c.disconnect().catch(() => undefined);
  await broker.stop();
});

async function stomp(headers: Record<string, string> = {}): Promise<StompTestClient> {
  const c = await connectStomp(broker.stompPort, { headers });
  clients.push(c);
  return c;
}

const enc = encodeURIComponent;

describe('broker, store, whoami', () => {
  test('GET /api/v1/broker names the broker, its listeners, store, memory and counts', async () => {
    const producer = await stomp();
    const q = uniqueName('b');
    await producer.sendConfirmed(`/queue/${q}`, 'x', { persistent: 'true' });
    const { status, body } = await api.get<Record<string, any>>('/api/v1/broker');
    assert.equal(status, 200);
    assert.equal(body['name'], 'ferry');
    assert.match(body['version'], /^\d+\.\d+\.\d+/);
    assert.ok(!Number.isNaN(Date.parse(body['startedAt'])));
    assert.equal(typeof body['uptimeSeconds'], 'number');
    const http = body['listeners'].find((l: { name: string }) => l.name === 'http');
    assert.deepEqual(http, { name: 'http', host: '127.0.0.1', port: api.port, tls: false });
    assert.equal(body['store'].type, 'journal');
    assert.equal(body['store'].directory, broker.dataDir);
    assert.ok(body['store'].files >= 1 && body['store'].bytes > 0);
    assert.ok(body['memory'].rss > 0 && body['memory'].heapUsed > 0);
    assert.equal(typeof body['bodyCache'].bytes, 'number');
    assert.ok(body['connections'].byProtocol.stomp >= 1);
    assert.ok(body['destinations'].queues >= 1);
    assert.ok(body['messages'].enqueued >= 1 && body['messages'].pending >= 1);
  });

  test('GET /api/v1/store is the store report; GET /api/v1/whoami says what the caller may do', async () => {
    const store = await api.get<{ store: { segments: unknown[] } }>('/api/v1/store');
    assert.equal(store.status, 200);
    assert.ok(store.body.store.segments.length >= 1);
    const me = await api.get('/api/v1/whoami');
    assert.deepEqual(me.body, { user: null, groups: [], monitor: true, manage: true });
  });

  test('GET /api/v1/store names a waiting message once as waiting, in flight or not, and its content apart: one label for both counted it twice', async () => {
    const own = await startBroker();
    try {
      const producer = await connectStomp(own.stompPort);
      for (let i = 0; i < 5; i++) await producer.sendConfirmed('/queue/orders.eu', `order ${i}`, { persistent: 'true' });
      const consumer = await connectStomp(own.stompPort);
      const inbox = await subscribeConfirmed(consumer, '/queue/orders.eu', { ack: 'client-individual', 'activemq.prefetchSize': '2' });
      await inbox.next();
      await inbox.next();
      const report = await new ApiClient(own.server.ports['http']!).get<{ store: { segments: { liveRecords: number; keptAliveBy: number[] }[] }; owners: Record<string, string> }>('/api/v1/store');
      assert.equal(report.status, 200);
      const named = new Map<string, number>();
      for (const segment of report.body.store.segments) {
        // every live record is named here (a handful): the count below is not of a sample
        assert.equal(segment.keptAliveBy.length, segment.liveRecords);
        for (const id of segment.keptAliveBy) {
          const owner = report.body.owners[String(id)] ?? `record ${id}`;
          named.set(owner, (named.get(owner) ?? 0) + 1);
        }
      }
      assert.equal(named.get('message waiting in queue orders.eu'), 5);
      assert.equal(named.get('content of a message waiting in queue orders.eu'), 5);
      await consumer.disconnect();
      await producer.disconnect();
    } finally {
      await own.stop();
    }
  });

  test('a memory store has no store report (404) and says so in the broker view', async () => {
    const memory = await startBroker({ 'store.type': 'memory' });
    try {
      const client = new ApiClient(memory.server.ports['http']!);
      const report = await client.get('/api/v1/store');
      assert.equal(report.status, 404);
      assert.equal(report.body['code'], 'FERRY_NOT_FOUND');
      assert.deepEqual((await client.get<Record<string, any>>('/api/v1/broker')).body['store'], { type: 'memory', bytes: 0, files: 0, directory: null });
    } finally {
      await memory.stop();
    }
  });
});

describe('destinations', () => {
  test('list with kind, glob filter, sort by any column both ways, and paging; total counts after the filter', async () => {
    const prefix = uniqueName('list');
    const producer = await stomp();
    for (const [name, n] of [['a', 3], ['b', 1], ['c', 2]] as const) {
      for (let i = 0; i < n; i++) await producer.sendConfirmed(`/queue/${prefix}.${name}`, 'm');
    }
    await producer.sendConfirmed(`/topic/${prefix}.t`, 'm');
    const page = await api.get<Page<Destination>>(`/api/v1/destinations?kind=queue&filter=${enc(`${prefix}.*`)}&sort=depth&order=desc`);
    assert.equal(page.status, 200);
    assert.equal(page.body.total, 3);
    assert.deepEqual(page.body.items.map((d) => [d.name.slice(prefix.length + 1), d.depth]), [['a', 3], ['c', 2], ['b', 1]]);
    const d = page.body.items[0]!;
    assert.deepEqual({ kind: d.kind, enqueued: d.enqueued, dequeued: d.dequeued, inFlight: d.inFlight, consumers: d.consumers, producers: d.producers, paused: d.paused, temporary: d.temporary }, { kind: 'queue', enqueued: 3, dequeued: 0, inFlight: 0, consumers: 0, producers: 1, paused: false, temporary: false });
    const second = await api.get<Page<Destination>>(`/api/v1/destinations?filter=${enc(`${prefix}.?`)}&sort=name&offset=1&limit=2`);
    assert.deepEqual([second.body.total, second.body.offset, second.body.limit], [4, 1, 2]);
    assert.deepEqual(second.body.items.map((x) => `${x.kind}:${x.name.slice(prefix.length + 1)}`), ['queue:b', 'queue:c']);
    const topics = await api.get<Page<Destination>>(`/api/v1/destinations?kind=topic&filter=${enc(`${prefix}*`)}`);
    assert.deepEqual(topics.body.items.map((x) => [x.name.slice(prefix.length + 1), x.enqueued]), [['t', 1]]);
    const byName = await api.get<Page<Destination>>(`/api/v1/destinations?filter=${enc(`${prefix}*`)}&sort=name&order=desc&kind=queue`);
    assert.deepEqual(byName.body.items.map((x) => x.name.slice(prefix.length + 1)), ['c', 'b', 'a']);
  });

  test('bad list parameters are 400 with FERRY_BAD_REQUEST', async () => {
    for (const query of ['kind=exchange', 'sort=colour', 'order=up', 'limit=1001', 'offset=-1', 'limit=x']) {
      const r = await api.get(`/api/v1/destinations?${query}`);
      assert.equal(r.status, 400, query);
      assert.equal(r.body['code'], 'FERRY_BAD_REQUEST', query);
    }
  });

  test('create (201, then 409), get one, delete (204, then 404); a bad body is 400', async () => {
    const name = uniqueName('made');
    const created = await api.post<Destination>('/api/v1/destinations', { kind: 'queue', name });
    assert.equal(created.status, 201);
    assert.equal(created.body.name, name);
    assert.equal(created.body.depth, 0);
    const again = await api.post('/api/v1/destinations', { kind: 'queue', name });
    assert.equal(again.status, 409);
    assert.equal(again.body['code'], 'FERRY_CONFLICT');
    assert.equal((await api.get(`/api/v1/destinations/queue/${name}`)).status, 200);
    const topic = await api.post<Destination>('/api/v1/destinations', { kind: 'topic', name });
    assert.equal(topic.status, 201);
    assert.equal((await api.delete(`/api/v1/destinations/topic/${name}`)).status, 204);
    assert.equal((await api.delete(`/api/v1/destinations/queue/${name}`)).status, 204);
    const gone = await api.delete(`/api/v1/destinations/queue/${name}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body['code'], 'FERRY_DESTINATION_NOT_FOUND');
    assert.equal((await api.get(`/api/v1/destinations/queue/${name}`)).status, 404);
    for (const body of [{ kind: 'exchange', name: 'x' }, { kind: 'queue' }, { kind: 'queue', name: 'a', extra: 1 }]) {
      const bad = await api.post('/api/v1/destinations', body);
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.equal(bad.body['code'], 'FERRY_BAD_REQUEST');
    }
    const notJson = await api.call('POST', '/api/v1/destinations', undefined, '{"kind": ');
    assert.equal(notJson.status, 400);
    assert.match(String(notJson.body['error']), /not JSON/);
    const wildcard = await api.post('/api/v1/destinations', { kind: 'queue', name: 'a.*' });
    assert.equal(wildcard.status, 400);
    assert.equal((await api.delete(`/api/v1/destinations/exchange/${name}`)).status, 400);
  });

  test('purge, pause and resume: a paused queue takes sends and delivers once resumed', async () => {
    const name = uniqueName('pause');
    const client = await stomp();
    await client.sendConfirmed(`/queue/${name}`, 'p1');
    const paused = await api.post<Destination>(`/api/v1/destinations/queue/${name}/pause`);
    assert.equal(paused.status, 200);
    assert.equal(paused.body.paused, true);
    const inbox = await subscribeConfirmed(client, `/queue/${name}`);
    await client.sendConfirmed(`/queue/${name}`, 'p2');
    assert.equal((await api.get<Destination>(`/api/v1/destinations/queue/${name}`)).body.depth, 2);
    assert.equal(inbox.size, 0);
    const resumed = await api.post<Destination>(`/api/v1/destinations/queue/${name}/resume`);
    assert.equal(resumed.body.paused, false);
    assert.deepEqual((await inbox.take(2)).map((m) => m.body), ['p1', 'p2']);
    inbox.subscription.unsubscribe();
    const other = uniqueName('purge');
    await client.sendConfirmed(`/queue/${other}`, 'x');
    await client.sendConfirmed(`/queue/${other}`, 'y');
    assert.deepEqual((await api.post(`/api/v1/destinations/queue/${other}/purge`)).body, { purged: 2 });
    for (const action of ['purge', 'pause', 'resume']) {
      const missing = await api.post(`/api/v1/destinations/queue/${uniqueName('none')}/${action}`);
      assert.equal(missing.status, 404, action);
    }
  });
});

describe('messages', () => {
  test('send with headers and typed properties, browse with a selector and paging, read one whole, delete one', async () => {
    const name = uniqueName('msgs');
    const sent = await api.post<{ id: string }>(`/api/v1/destinations/queue/${name}/messages`, {
      body: '{"order": 7}',
      priority: 6,
      correlationId: 'c-1',
      type: 'order',
      replyTo: 'queue://replies',
      timeToLive: 600_000,
      properties: { colour: 'red', n: 5, ok: true, big: { type: 'long', value: '9007199254740993' }, raw: { type: 'bytes', value: Buffer.from([1, 2]).toString('base64') } },
    });
    assert.equal(sent.status, 201);
    const bytes = await api.post<{ id: string }>(`/api/v1/destinations/queue/${name}/messages`, { body: Buffer.from([0, 255]).toString('base64'), bodyEncoding: 'base64', persistent: false, properties: { colour: 'blue' } });
    assert.equal(bytes.status, 201);
    const all = await api.get<Page<Summary>>(`/api/v1/queues/${name}/messages`);
    assert.equal(all.status, 200);
    assert.equal(all.body.items.length, 2);
    assert.equal(all.body.more, false);
    const first = all.body.items[0]!;
    assert.equal(first.id, sent.body.id);
    assert.deepEqual(
      { persistent: first['persistent'], priority: first['priority'], redelivered: first['redelivered'], deliveryCount: first.deliveryCount, correlationId: first['correlationId'], type: first['type'], groupId: first['groupId'], bodyKind: first['bodyKind'], bodyBytes: first.bodyBytes, originalDestination: first.originalDestination },
      { persistent: true, priority: 6, redelivered: false, deliveryCount: 1, correlationId: 'c-1', type: 'order', groupId: null, bodyKind: 'text', bodyBytes: 12, originalDestination: null },
    );
    assert.ok((first['expiration'] as number) > (first['timestamp'] as number));
    const blue = await api.get<Page<Summary>>(`/api/v1/queues/${name}/messages?selector=${enc("colour = 'blue'")}`);
    assert.deepEqual(blue.body.items.map((m) => m.id), [bytes.body.id]);
    const paged = await api.get<Page<Summary>>(`/api/v1/queues/${name}/messages?offset=0&limit=1`);
    assert.deepEqual([paged.body.items.length, paged.body.more], [1, true]);
    const whole = await api.get<Record<string, any>>(`/api/v1/queues/${name}/messages/${enc(sent.body.id)}`);
    assert.equal(whole.status, 200);
    assert.equal(whole.body['replyTo'], 'queue://replies');
    assert.deepEqual(whole.body['body'], { encoding: 'text', data: '{"order": 7}', json: { order: 7 } });
    const props = Object.fromEntries((whole.body['properties'] as { name: string; type: string; value: unknown }[]).map((p) => [p.name, [p.type, p.value]]));
    assert.deepEqual(props, { colour: ['string', 'red'], n: ['int', 5], ok: ['boolean', true], big: ['long', '9007199254740993'], raw: ['bytes', 'AQI='] });
    const binary = await api.get<Record<string, any>>(`/api/v1/queues/${name}/messages/${enc(bytes.body.id)}`);
    assert.deepEqual(binary.body['body'], { encoding: 'base64', data: 'AP8=' });
    assert.equal((await api.delete(`/api/v1/queues/${name}/messages/${enc(bytes.body.id)}`)).status, 204);
    assert.equal((await api.delete(`/api/v1/queues/${name}/messages/${enc(bytes.body.id)}`)).status, 404);
    assert.equal((await api.get(`/api/v1/queues/${name}/messages/${enc(bytes.body.id)}`)).status, 404);
    // a consumer gets what the API sent, as sent
    const client = await stomp();
    const inbox = await subscribeConfirmed(client, `/queue/${name}`);
    const got = await inbox.next();
    assert.equal(got.body, '{"order": 7}');
    assert.equal(got.headers['colour'], 'red');
    assert.equal(got.headers['correlation-id'], 'c-1');
    inbox.subscription.unsubscribe();
  });

  test('a typed property outside its type\'s range or format is a 400 that names it, persistent or not; the edges of each range go through', async () => {
    const name = uniqueName('ranges');
    const bad: [string, string | number][] = [
      ['long', '99999999999999999999'],
      ['long', '9223372036854775808'],
      ['long', '-9223372036854775809'],
      ['long', ''],
      ['long', '0x10'],
      ['long', ' 12'],
      ['long', 2 ** 60],
      ['byte', 128],
      ['byte', '300'],
      ['short', 70000],
      ['int', 3000000000],
      ['int', '-2147483649'],
      ['int', ''],
      ['float', 1e39],
      ['double', ''],
      ['double', '1e400'],
    ];
    for (const persistent of [true, false]) {
      for (const [type, value] of bad) {
        const r = await api.post<{ code: string; error: string }>(`/api/v1/destinations/queue/${name}/messages`, { persistent, properties: { big: { type, value } } });
        const what = `${type} ${JSON.stringify(value)} persistent ${persistent}`;
        assert.equal(r.status, 400, what);
        assert.equal(r.body.code, 'FERRY_BAD_REQUEST', what);
        assert.ok(r.body.error.startsWith(`property "big": ${JSON.stringify(value)} is `), `${what}: ${r.body.error}`);
        assert.match(r.body.error, new RegExp(`\\b${type}\\b`), what);
      }
    }
    assert.equal((await api.get(`/api/v1/queues/${name}/messages`)).status, 404, 'nothing was sent, so the queue was never made');

    const edges = {
      longMax: { type: 'long', value: '9223372036854775807' },
      longMin: { type: 'long', value: '-9223372036854775808' },
      byteMin: { type: 'byte', value: -128 },
      shortMax: { type: 'short', value: '32767' },
      intMin: { type: 'int', value: -2147483648 },
      floatMax: { type: 'float', value: 3.4028234663852886e38 },
    };
    const sent = await api.post<{ id: string }>(`/api/v1/destinations/queue/${name}/messages`, { properties: edges });
    assert.equal(sent.status, 201);
    const whole = await api.get<Record<string, any>>(`/api/v1/queues/${name}/messages/${enc(sent.body.id)}`);
    const props = Object.fromEntries((whole.body['properties'] as { name: string; value: unknown }[]).map((p) => [p.name, p.value]));
    assert.deepEqual(props, { longMax: '9223372036854775807', longMin: '-9223372036854775808', byteMin: -128, shortMax: 32767, intMin: -2147483648, floatMax: 3.4028234663852886e38 });
  });

  test('a base64 body or bytes property that is not standard padded base64 is a 400 and nothing is sent; line-wrapped base64 goes through', async () => {
    const name = uniqueName('base64');
    const send = (input: Record<string, unknown>) => api.post<{ id: string; code: string; error: string }>(`/api/v1/destinations/queue/${name}/messages`, input);
    // Node's decoder would make an empty body, "hello", an empty body... of each
    const bad = ['%%%', '!!!!aGVsbG8=', 'a', 'not base64 at all!', 'aGVsbG8', 'aGVsbG9=', 'aGVsbG8==', 'aGVs=bG8=', '_-8=', '+/8'];
    for (const text of bad) {
      const body = await send({ body: text, bodyEncoding: 'base64' });
      assert.deepEqual([body.status, body.body.code], [400, 'FERRY_BAD_REQUEST'], `body ${JSON.stringify(text)}`);
      assert.match(body.body.error, /body is not base64/);
      const property = await send({ properties: { p: { type: 'bytes', value: text } } });
      assert.deepEqual([property.status, property.body.code], [400, 'FERRY_BAD_REQUEST'], `property ${JSON.stringify(text)}`);
      assert.ok(property.body.error.startsWith(`property "p": ${JSON.stringify(text)} is not base64`), property.body.error);
    }
    assert.equal((await api.get(`/api/v1/queues/${name}/messages`)).status, 404, 'nothing was sent, so the queue was never made');

    const bytes = Buffer.from(Array.from({ length: 100 }, (_, i) => (i * 37) % 256));
    const wrapped = bytes.toString('base64').replace(/.{76}/g, '$&\n');
    const sent = await send({ body: wrapped, bodyEncoding: 'base64', properties: { p: { type: 'bytes', value: '+/8=' }, empty: { type: 'bytes', value: '' } } });
    assert.equal(sent.status, 201);
    const whole = await api.get<Record<string, any>>(`/api/v1/queues/${name}/messages/${enc(sent.body.id)}`);
    assert.deepEqual(whole.body['body'], { encoding: 'base64', data: bytes.toString('base64') });
    const props = Object.fromEntries((whole.body['properties'] as { name: string; value: unknown }[]).map((p) => [p.name, p.value]));
    assert.deepEqual(props, { p: '+/8=', empty: '' });
  });

  test('bad sends and browses are 400; unknown queues and messages 404', async () => {
    const name = uniqueName('bad');
    for (const body of [{ priority: 10 }, { bodyEncoding: 'hex' }, { replyTo: 'nowhere' }, { properties: { n: { type: 'int', value: 'seven' } } }, { unknown: 1 }]) {
      const r = await api.post(`/api/v1/destinations/queue/${name}/messages`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body['code'], 'FERRY_BAD_REQUEST', JSON.stringify(body));
    }
    await api.post(`/api/v1/destinations/queue/${name}/messages`, { body: 'x' });
    const badSelector = await api.get(`/api/v1/queues/${name}/messages?selector=${enc('colour = ')}`);
    assert.equal(badSelector.status, 400);
    assert.equal(badSelector.body['code'], 'FERRY_SELECTOR_INVALID');
    for (const after of ['x', '4', '10:1', '4:-1', '4:01']) {
      const badCursor = await api.get(`/api/v1/queues/${name}/messages?after=${enc(after)}`);
      assert.deepEqual([badCursor.status, badCursor.body['code']], [400, 'FERRY_BAD_REQUEST'], after);
    }
    assert.equal((await api.get(`/api/v1/queues/${uniqueName('none')}/messages`)).status, 404);
    assert.equal((await api.get(`/api/v1/queues/${name}/messages/ID:none`)).status, 404);
    assert.equal((await api.post(`/api/v1/destinations/queue/${name}/messages`, { body: 'x', persistent: 'yes' })).status, 400);
  });

  test('move, copy (by ids, selector, all) and retry of dead letters to their original destination', async () => {
    const src = uniqueName('src');
    const dst = uniqueName('dst');
    const ids: string[] = [];
    for (const [body, colour] of [['r1', 'red'], ['b1', 'blue'], ['r2', 'red'], ['b2', 'blue']]) {
      ids.push((await api.post<{ id: string }>(`/api/v1/destinations/queue/${src}/messages`, { body, properties: { colour } })).body.id);
    }
    assert.deepEqual((await api.post(`/api/v1/queues/${src}/messages/move`, { to: `queue://${dst}`, ids: [ids[0]] })).body, { moved: 1, inFlight: [] });
    assert.deepEqual((await api.post(`/api/v1/queues/${src}/messages/copy`, { to: `queue://${dst}`, selector: "colour = 'blue'" })).body, { copied: 2 });
    assert.deepEqual((await api.post(`/api/v1/queues/${src}/messages/move`, { to: `queue://${dst}` })).body, { moved: 3 });
    const moved = await api.get<Page<Summary>>(`/api/v1/queues/${dst}/messages?limit=10`);
    assert.equal(moved.body.items.length, 6);
    assert.equal(moved.body.items[0]!.id, ids[0]);
    assert.equal((await api.get<Page<Summary>>(`/api/v1/queues/${src}/messages`)).body.items.length, 0);
    for (const body of [{}, { to: 'nowhere' }, { to: `queue://${dst}`, ids: ['a'], selector: 'x = 1' }, { to: `queue://${src}`, ids: 'a' }]) {
      const r = await api.post(`/api/v1/queues/${dst}/messages/move`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
    }
    assert.equal((await api.post(`/api/v1/queues/${dst}/messages/move`, { to: `queue://${dst}` })).status, 400);
    assert.equal((await api.post(`/api/v1/queues/${uniqueName('none')}/messages/copy`, { to: `queue://${dst}` })).status, 404);

    // a dead letter: rejected by a STOMP client (NACK), it lands in ActiveMQ.DLQ with its origin
    const work = uniqueName('work');
    const client = await stomp();
    await client.sendConfirmed(`/queue/${work}`, 'poison', { persistent: 'true' });
    const inbox = await subscribeConfirmed(client, `/queue/${work}`, { ack: 'client-individual' });
    const m = await inbox.next();
    m.nack();
    const inDlq = (): boolean => broker.server.broker.admin.destinationList().some((d) => d.name === 'ActiveMQ.DLQ') && broker.server.broker.admin.browse('ActiveMQ.DLQ', `JMSMessageID = '${m.headers['message-id']}'`, 0, 1).items.length === 1;
    await eventually('the message is dead-lettered', inDlq);
    inbox.subscription.unsubscribe();
    const dead = await api.get<Page<Summary>>(`/api/v1/queues/ActiveMQ.DLQ/messages?selector=${enc(`JMSMessageID = '${m.headers['message-id']}'`)}`);
    assert.equal(dead.body.items[0]!.originalDestination, `queue://${work}`);
    assert.deepEqual((await api.post('/api/v1/queues/ActiveMQ.DLQ/messages/retry', { ids: [dead.body.items[0]!.id] })).body, { retried: 1, inFlight: [] });
    const back = await api.get<Page<Summary>>(`/api/v1/queues/${work}/messages`);
    assert.deepEqual(back.body.items.map((x) => x.originalDestination), [null]);
    assert.equal((await api.post('/api/v1/queues/ActiveMQ.DLQ/messages/retry', { to: 'queue://x' })).status, 400);
    assert.deepEqual((await api.post(`/api/v1/queues/${dst}/messages/retry`, {})).body, { retried: 0 });
  });

  test('a move, copy or retry by ids names a dead letter that a consumer of the dead-letter queue holds unacknowledged, and takes the others', async () => {
    const admin = broker.server.broker.admin;
    const work = uniqueName('held');
    const client = await stomp();
    for (const body of ['held', 'free']) await client.sendConfirmed(`/queue/${work}`, body, { persistent: 'true' });
    const inbox = await subscribeConfirmed(client, `/queue/${work}`, { ack: 'client-individual' });
    const idOf: Record<string, string> = {};
    for (let i = 0; i < 2; i++) {
      const m = await inbox.next();
      idOf[m.body] = m.headers['message-id']!;
      m.nack();
    }
    const waitingInDlq = (id: string): boolean => admin.destinationList().some((d) => d.name === 'ActiveMQ.DLQ') && admin.browse('ActiveMQ.DLQ', `JMSMessageID = '${id}'`, 0, 1).items.length === 1;
    await eventually('both are dead-lettered', () => waitingInDlq(idOf['held']!) && waitingInDlq(idOf['free']!));
    inbox.subscription.unsubscribe();
    const held = idOf['held']!;
    const free = idOf['free']!;

    // a consumer of ActiveMQ.DLQ takes the dead letter and does not acknowledge it
    const holder = await stomp();
    const holding = await subscribeConfirmed(holder, '/queue/ActiveMQ.DLQ', { ack: 'client-individual', selector: `JMSMessageID = '${held}'` });
    assert.equal((await holding.next()).headers['message-id'], held);
    await eventually('the dead letter is in flight', () => !waitingInDlq(held));

    const copies = uniqueName('copies');
    assert.deepEqual((await api.post('/api/v1/queues/ActiveMQ.DLQ/messages/retry', { ids: [held] })).body, { retried: 0, inFlight: [held] });
    assert.deepEqual((await api.post('/api/v1/queues/ActiveMQ.DLQ/messages/move', { to: `queue://${copies}`, ids: [held] })).body, { moved: 0, inFlight: [held] });
    assert.deepEqual((await api.post('/api/v1/queues/ActiveMQ.DLQ/messages/copy', { to: `queue://${copies}`, ids: [held] })).body, { copied: 0, inFlight: [held] });
    // the waiting one named with it goes; the held one stays with its consumer
    assert.deepEqual((await api.post('/api/v1/queues/ActiveMQ.DLQ/messages/retry', { ids: [held, free] })).body, { retried: 1, inFlight: [held] });
    assert.deepEqual((await api.get<Page<Summary>>(`/api/v1/queues/${work}/messages`)).body.items.map((x) => x.id), [free]);
    assert.equal((await api.get(`/api/v1/queues/ActiveMQ.DLQ/messages/${enc(held)}`)).status, 200);

    // given back by its consumer, it waits again and is retried
    await withReceipt(holder, (receipt) => holding.subscription.unsubscribe(receipt));
    await eventually('the dead letter waits again', () => waitingInDlq(held));
    assert.deepEqual((await api.post('/api/v1/queues/ActiveMQ.DLQ/messages/retry', { ids: [held] })).body, { retried: 1, inFlight: [] });
    assert.deepEqual((await api.get<Page<Summary>>(`/api/v1/queues/${work}/messages`)).body.items.map((x) => x.id).sort(), [free, held].sort());
  });
});

describe('clients', () => {
  test('connections with protocol, address, user, client id, counts and rates; one with its consumers and producers; close one', async () => {
    const clientId = uniqueName('cid');
    const q = uniqueName('conn');
    const client = await stomp({ 'client-id': clientId, login: 'someone', passcode: 'x' });
    const inbox = await subscribeConfirmed(client, `/queue/${q}`, { ack: 'client', 'activemq.prefetchSize': '10', selector: "n > 0" });
    for (let i = 1; i <= 3; i++) await client.sendConfirmed(`/queue/${q}`, `m${i}`, { n: String(i) });
    await inbox.take(3);
    const list = await api.get<{ items: Record<string, any>[] }>('/api/v1/connections');
    assert.equal(list.status, 200);
    const mine = list.body.items.find((c) => c['clientId'] === clientId)!;
    assert.ok(mine !== undefined);
    assert.equal(mine['protocol'], 'stomp');
    assert.match(mine['remoteAddress'], /^127\.0\.0\.1:\d+$/);
    assert.equal(mine['user'], 'someone');
    assert.ok(!Number.isNaN(Date.parse(mine['connectedAt'])));
    assert.deepEqual([mine['consumers'], mine['producers'], mine['inFlight'], mine['messagesIn'], mine['messagesOut']], [1, 1, 3, 3, 3]);
    assert.ok(mine['sessions'] >= 1);
    assert.ok(mine['rateIn'] > 0 && mine['rateOut'] > 0);
    const one = await api.get<Record<string, any>>(`/api/v1/connections/${enc(mine['id'])}`);
    assert.equal(one.status, 200);
    assert.deepEqual(one.body['consumerList'].map((c: Record<string, unknown>) => [c['destination'], c['selector'], c['prefetch'], c['inFlight'], c['delivered'], c['acknowledged'], c['exclusive'], c['priority'], c['durableName']]), [[`queue://${q}`, 'n > 0', 10, 3, 3, 0, false, 0, null]]);
    const [producer] = one.body['producerList'];
    assert.deepEqual({ ...producer, rate: undefined }, { connectionId: mine['id'], protocol: 'stomp', remoteAddress: mine['remoteAddress'], user: 'someone', clientId, destination: `queue://${q}`, sent: 3, rate: undefined });
    assert.ok(producer['rate'] > 0);
    const [consumer] = one.body['consumerList'];
    assert.deepEqual([consumer['protocol'], consumer['remoteAddress'], consumer['user'], consumer['clientId']], ['stomp', mine['remoteAddress'], 'someone', clientId]);
    assert.ok(consumer['rate'] > 0);
    const consumers = await api.get<{ items: Record<string, unknown>[] }>('/api/v1/consumers');
    assert.ok(consumers.body.items.some((c) => c['connectionId'] === mine['id'] && c['destination'] === `queue://${q}`));
    const producers = await api.get<{ items: Record<string, unknown>[] }>('/api/v1/producers');
    assert.ok(producers.body.items.some((p) => p['connectionId'] === mine['id'] && p['sent'] === 3));
    assert.equal((await api.delete(`/api/v1/connections/${enc(mine['id'])}`)).status, 204);
    await client.closed;
    assert.ok(client.errors.length >= 1, 'the client is told why');
    assert.equal((await api.get(`/api/v1/connections/${enc(mine['id'])}`)).status, 404);
    assert.equal((await api.delete(`/api/v1/connections/${enc(mine['id'])}`)).status, 404);
  });

  test('connections, consumers and producers filtered by client id, user, protocol, destination or connection; an unknown filter is a 400', async () => {
    const [workerId, otherId] = [uniqueName('worker'), uniqueName('other')];
    const [q, elsewhere] = [uniqueName('filtered'), uniqueName('filtered')];
    const worker = await stomp({ 'client-id': workerId, login: 'worker-user', passcode: 'x' });
    const other = await stomp({ 'client-id': otherId });
    await subscribeConfirmed(worker, `/queue/${q}`);
    await subscribeConfirmed(other, `/queue/${elsewhere}`);
    await worker.sendConfirmed(`/queue/${elsewhere}`, 'w');
    await other.sendConfirmed(`/queue/${q}`, 'o');
    type Items = { items: Record<string, any>[] };
    const ids = (items: Record<string, any>[]): string[] => items.map((i) => i['clientId']).sort();

    assert.deepEqual(ids((await api.get<Items>(`/api/v1/connections?clientId=${enc(workerId)}`)).body.items), [workerId]);
    assert.deepEqual(ids((await api.get<Items>('/api/v1/connections?user=worker-user')).body.items), [workerId]);
    assert.deepEqual((await api.get<Items>(`/api/v1/connections?clientId=${enc(workerId)}&protocol=mqtt`)).body.items, []);
    const consumers = (await api.get<Items>(`/api/v1/consumers?destination=${enc(`queue://${q}`)}`)).body.items;
    assert.deepEqual([ids(consumers), consumers.map((c) => c['destination'])], [[workerId], [`queue://${q}`]]);
    assert.deepEqual((await api.get<Items>(`/api/v1/consumers?destination=${enc('queue://does-not-exist')}`)).body.items, []);
    const workerConnection = (await api.get<Items>(`/api/v1/connections?clientId=${enc(workerId)}`)).body.items[0]!['id'];
    assert.deepEqual(ids((await api.get<Items>(`/api/v1/consumers?connection=${enc(workerConnection)}`)).body.items), [workerId]);
    const producers = (await api.get<Items>(`/api/v1/producers?destination=${enc(`queue://${q}`)}`)).body.items;
    assert.deepEqual(ids(producers), [otherId]);
    assert.deepEqual(ids((await api.get<Items>(`/api/v1/producers?clientId=${enc(workerId)}`)).body.items), [workerId]);

    for (const path of ['/api/v1/connections?clientid=x', '/api/v1/connections?destination=queue://x', '/api/v1/consumers?queue=x', '/api/v1/producers?filter=x', '/api/v1/consumers?destination=nope']) {
      const refused = await api.get<Record<string, string>>(path);
      assert.equal(refused.status, 400, path);
      assert.equal(refused.body['code'], 'FERRY_BAD_REQUEST', path);
    }
    assert.match((await api.get<Record<string, string>>('/api/v1/connections?clientid=x')).body['error']!, /unknown query parameter "clientid": this list is filtered by clientId, user, protocol/);
  });

  test('producers: a server answering each request at its temporary reply queue keeps none once they are gone; past 100 destinations a connection keeps those it sent to last', async () => {
    const clientId = uniqueName('replier');
    const q = uniqueName('rpc');
    const server = await stomp({ 'client-id': clientId });
    const requests = await subscribeConfirmed(server, `/queue/${q}`);
    for (let i = 0; i < 30; i++) {
      const requester = await connectStomp(broker.stompPort);
      const replies = await subscribeConfirmed(requester, '/temp-queue/replies');
      await requester.sendConfirmed(`/queue/${q}`, `ping ${i}`, { 'reply-to': '/temp-queue/replies' });
      const request = await requests.next();
      await server.sendConfirmed(request.headers['reply-to']!, `pong ${i}`);
      assert.equal((await replies.next()).body, `pong ${i}`);
      await requester.disconnect();
    }
    const figures = async (): Promise<Record<string, any>> => (await api.get<{ items: Record<string, any>[] }>('/api/v1/connections')).body.items.find((c) => c['clientId'] === clientId)!;
    assert.equal((await figures())['messagesIn'], 30);
    assert.equal((await figures())['producers'], 0, 'no producer is left for a reply queue that is gone');

    for (let i = 0; i < 120; i++) await server.sendConfirmed(`/queue/${q}.to.${i}`, 'one');
    const mine = await figures();
    assert.ok(mine['producers'] > 0 && mine['producers'] <= 100, `${mine['producers']} producers`);
    const producers = (await api.get<Record<string, any>>(`/api/v1/connections/${enc(mine['id'])}`)).body['producerList'].map((p: Record<string, unknown>) => p['destination']);
    assert.ok(producers.includes(`queue://${q}.to.119`));
    assert.ok(!producers.includes(`queue://${q}.to.0`));
  });

  test('sessions: each channel of one AMQP 0-9-1 connection is a session, with its own consumers, in flight and traffic', async () => {
    const q = uniqueName('sessions');
    const amqp = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${broker.amqpPort}`);
    try {
      const consuming = await amqp.createChannel();
      const publishing = await amqp.createConfirmChannel();
      await consuming.assertQueue(q, { durable: false });
      await consuming.prefetch(10);
      const received: string[] = [];
      const all = new Promise<void>((resolve) => {
        void consuming.consume(q, (m) => {
          if (m !== null) received.push(m.content.toString());
          if (received.length === 3) resolve();
        });
      });
      for (let i = 1; i <= 3; i++) publishing.sendToQueue(q, Buffer.from(`m${i}`));
      await publishing.waitForConfirms();
      await all;
      const consumer = (await api.get<{ items: Record<string, any>[] }>('/api/v1/consumers')).body.items.find((c) => c['destination'] === `queue://${q}`)!;
      assert.ok(consumer !== undefined);
      const connectionId = consumer['connectionId'] as string;
      const listed = await api.get<{ items: Record<string, any>[] }>(`/api/v1/sessions?connection=${enc(connectionId)}`);
      assert.equal(listed.status, 200);
      const rows = listed.body.items;
      assert.equal(rows.length, 2, JSON.stringify(rows));
      for (const s of rows) {
        assert.equal(s['connectionId'], connectionId);
        assert.equal(s['protocol'], 'amqp091');
        assert.match(s['remoteAddress'], /^127\.0\.0\.1:\d+$/);
        assert.equal(s['user'], 'guest');
        assert.ok(!Number.isNaN(Date.parse(s['openedAt'])));
      }
      const reader = rows.find((s) => s['consumers'] === 1)!;
      const writer = rows.find((s) => s['consumers'] === 0)!;
      assert.deepEqual([reader['inFlight'], reader['messagesIn'], reader['messagesOut']], [3, 0, 3]);
      assert.deepEqual([writer['inFlight'], writer['messagesIn'], writer['messagesOut']], [0, 3, 0]);
      assert.ok(reader['rateOut'] > 0 && writer['rateIn'] > 0 && reader['rateIn'] === 0);
      assert.notEqual(reader['id'], writer['id']);
      const everyone = await api.get<{ items: Record<string, any>[] }>('/api/v1/sessions');
      assert.deepEqual(everyone.body.items.filter((s) => s['connectionId'] === connectionId).map((s) => s['id']).sort(), rows.map((s) => s['id']).sort());
      const one = await api.get<Record<string, any>>(`/api/v1/connections/${enc(connectionId)}`);
      assert.deepEqual(one.body['sessionList'].map((s: Record<string, unknown>) => s['id']).sort(), rows.map((s) => s['id']).sort());
      assert.equal(one.body['sessions'], 2);
      assert.equal((await api.get(`/api/v1/sessions?connection=nothing-${q}`)).status, 404);
    } finally {
      await amqp.close();
    }
  });

  test('durable subscriptions: listed with owner, topic, selector, depth and activity; deleted once inactive', async () => {
    const clientId = uniqueName('dur');
    const topic = uniqueName('news');
    const subscriber = await stomp({ 'client-id': clientId });
    const inbox = await subscribeConfirmed(subscriber, `/topic/${topic}`, { 'activemq.subscriptionName': 'sub1', selector: "kind = 'a'" });
    const list = async (): Promise<Record<string, unknown> | undefined> => (await api.get<{ items: Record<string, unknown>[] }>('/api/v1/subscriptions')).body.items.find((s) => s['owner'] === clientId);
    assert.deepEqual(await list(), { owner: clientId, name: 'sub1', topic, selector: "kind = 'a'", noLocal: false, depth: 0, active: true });
    const busy = await api.delete(`/api/v1/subscriptions/${clientId}/sub1`);
    assert.equal(busy.status, 409);
    inbox.subscription.unsubscribe();
    await subscriber.disconnect();
    const producer = await stomp();
    await producer.sendConfirmed(`/topic/${topic}`, 'n1', { kind: 'a', persistent: 'true' });
    assert.deepEqual(await list(), { owner: clientId, name: 'sub1', topic, selector: "kind = 'a'", noLocal: false, depth: 1, active: false });
    assert.equal((await api.delete(`/api/v1/subscriptions/${clientId}/sub1`)).status, 204);
    assert.equal(await list(), undefined);
    assert.equal((await api.delete(`/api/v1/subscriptions/${clientId}/sub1`)).status, 404);
  });

  test('scheduled messages: listed soonest first with paging, cancelled by id', async () => {
    const client = await stomp();
    const q = uniqueName('sched');
    await client.sendConfirmed(`/queue/${q}`, 'later', { AMQ_SCHEDULED_DELAY: '3600000', persistent: 'true' });
    await client.sendConfirmed(`/queue/${q}`, 'sooner', { AMQ_SCHEDULED_DELAY: '1800000', AMQ_SCHEDULED_PERIOD: '1000', AMQ_SCHEDULED_REPEAT: '2' });
    const list = await api.get<{ items: Record<string, any>[]; total: number }>('/api/v1/scheduled?limit=1000');
    const mine = list.body.items.filter((j) => j['destination'] === `queue://${q}`);
    assert.deepEqual(mine.map((j) => [j['bodyBytes'], j['repeatsLeft'], j['period'], j['cron']]), [[6, 2, 1000, null], [5, 0, 0, null]]);
    assert.ok(Date.parse(mine[0]!['nextDue']) < Date.parse(mine[1]!['nextDue']));
    const page = await api.get<{ items: unknown[] }>('/api/v1/scheduled?offset=0&limit=1');
    assert.equal(page.body.items.length, 1);
    for (const job of mine) assert.equal((await api.delete(`/api/v1/scheduled/${enc(job['id'])}`)).status, 204);
    const after = await api.get<{ items: Record<string, any>[] }>('/api/v1/scheduled?limit=1000');
    assert.equal(after.body.items.filter((j) => j['destination'] === `queue://${q}`).length, 0);
    assert.equal((await api.delete(`/api/v1/scheduled/${enc(mine[0]!['id'])}`)).status, 404);
    assert.equal((await api.get('/api/v1/scheduled?limit=lots')).status, 400);
  });

  test('scheduled messages: one delayed "for ever" (Long.MAX_VALUE ms) is listed as due at the latest date, and the rest with it', async () => {
    const client = await stomp();
    const q = uniqueName('never');
    await client.sendConfirmed(`/queue/${q}`, 'never', { AMQ_SCHEDULED_DELAY: '9223372036854775807' });
    await client.sendConfirmed(`/queue/${q}`, 'then', { AMQ_SCHEDULED_DELAY: '3600000' });
    const list = await api.get<{ items: Record<string, any>[] }>('/api/v1/scheduled?limit=1000');
    assert.equal(list.status, 200, list.text);
    const mine = list.body.items.filter((j) => j['destination'] === `queue://${q}`);
    assert.deepEqual(mine.map((j) => [j['bodyBytes'], j['nextDue'] === new Date(8.64e15).toISOString()]), [[4, false], [5, true]]);
    for (const job of mine) assert.equal((await api.delete(`/api/v1/scheduled/${enc(job['id'])}`)).status, 204);
  });
});

describe('the server', () => {
  test('unknown routes are 404, other methods 405, with JSON codes and the security headers', async () => {
    const missing = await api.get('/api/v1/nothing');
    assert.equal(missing.status, 404);
    assert.equal(missing.body['code'], 'FERRY_NOT_FOUND');
    const wrong = await api.call('PUT', '/api/v1/broker');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.body['code'], 'FERRY_METHOD_NOT_ALLOWED');
    assert.equal(missing.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(missing.headers.get('cache-control'), 'no-store');
    assert.equal(missing.headers.get('access-control-allow-origin'), null);
  });

  test('the console\'s files are served at / when they are there, index.html for unknown paths outside the API', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ferry-console-'));
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>console</title>');
    writeFileSync(join(root, 'app.js'), 'console.log(1)');
    const server = new ManagementServer(broker.server.broker, { host: '127.0.0.1', port: 0, consoleDirectory: root }, silentLogger);
    const port = await server.listen();
    try {
      const page = async (path: string): Promise<[number, string, string]> => {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        return [res.status, res.headers.get('content-type') ?? '', await res.text()];
      };
      assert.deepEqual(await page('/'), [200, 'text/html; charset=utf-8', '<!doctype html><title>console</title>']);
      assert.deepEqual(await page('/app.js'), [200, 'text/javascript; charset=utf-8', 'console.log(1)']);
      assert.deepEqual(await page('/queues/orders'), [200, 'text/html; charset=utf-8', '<!doctype html><title>console</title>']);
      // nothing outside the folder, and the API keeps its own 404
      assert.equal((await page('/%2e%2e/%2e%2e/package.json'))[2], '<!doctype html><title>console</title>');
      assert.equal((await page('/api/v1/nothing'))[0], 404);
    } finally {
      await server.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('the routes before v1 keep working', async () => {
    const name = uniqueName('old');
    await api.post(`/api/v1/destinations/queue/${name}/messages`, { body: 'kept' });
    const stats = await api.get<{ queues: { name: string; pending: number }[] }>('/api/stats');
    assert.equal(stats.body.queues.find((q) => q.name === name)?.pending, 1);
    assert.equal((await api.get('/api/store')).status, 200);
    const peek = await api.get<{ body: string }[]>(`/api/queues/${name}/messages`);
    assert.deepEqual(peek.body.map((m) => m.body), ['kept']);
    assert.deepEqual((await api.delete(`/api/queues/${name}/messages`)).body, { queue: name, purged: 1 });
  });
});
