/**
 * /metrics: a scrape from a broker with traffic passes `promtool check metrics` (Debian's
 * prometheus package), its values are what the clients sent and took, and destinations past
 * metrics.maxDestinations are summed under name="_other".
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { ApiClient } from '../helpers/management.js';
import { eventually, subscribeConfirmed, uniqueName, withReceipt } from '../helpers/raw-stomp.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';

/** `name{labels} value` lines of the text format, by name and label text. */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    assert.ok(m !== null, `not a sample line: ${line}`);
    found.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return found;
}

let broker: TestBroker;
let api: ApiClient;
const clients: StompTestClient[] = [];

before(async () => {
  broker = await startBroker({ 'metrics.maxDestinations': 6 });
  api = new ApiClient(broker.server.ports['http']!);
});

after(async () => {
  for (const c of clients) await c.disconnect().catch(() => undefined);
  await broker.stop();
});

test('a scrape after traffic passes promtool, and its values are what was sent and taken', async () => {
  const q = uniqueName('metered');
  const producer = await connectStomp(broker.stompPort);
  const consumer = await connectStomp(broker.stompPort);
  clients.push(producer, consumer);
  for (let i = 0; i < 7; i++) await producer.sendConfirmed(`/queue/${q}`, `m${i}`, { persistent: 'true' });
  const inbox = await subscribeConfirmed(consumer, `/queue/${q}`, { ack: 'client-individual', 'activemq.prefetchSize': '3' });
  const taken = await inbox.take(3);
  for (const m of taken.slice(0, 2)) await withReceipt(consumer, (receipt) => m.ack(receipt));
  // the two acknowledged make room for two more: 5 delivered, 3 in flight, 2 waiting
  await inbox.take(2);
  const answer = await api.get('/metrics');
  assert.equal(answer.status, 200);
  assert.match(answer.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);

  const check = spawnSync('promtool', ['check', 'metrics'], { input: answer.text, encoding: 'utf8' });
  assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);

  const s = samples(answer.text);
  const labels = `{kind="queue",name="${q}"}`;
  assert.equal(s.get(`ferry_destination_enqueued_total${labels}`), 7);
  assert.equal(s.get(`ferry_destination_dequeued_total${labels}`), 2);
  assert.equal(s.get(`ferry_destination_in_flight${labels}`), 3);
  assert.equal(s.get(`ferry_destination_depth${labels}`), 2);
  assert.equal(s.get(`ferry_destination_consumers${labels}`), 1);
  assert.equal(s.get(`ferry_destination_producers${labels}`), 1);
  assert.equal(s.get(`ferry_destination_expired_total${labels}`), 0);
  assert.equal(s.get(`ferry_destination_dead_lettered_total${labels}`), 0);
  assert.equal(s.get('ferry_connections{protocol="stomp"}'), 2);
  // nobody is connected with these: a series that reads 0, not a missing one
  for (const protocol of ['mqtt', 'amqp', 'openwire']) assert.equal(s.get(`ferry_connections{protocol="${protocol}"}`), 0, protocol);
  assert.ok(s.get('ferry_messages_enqueued_total')! >= 7);
  assert.ok(s.get('ferry_messages_dequeued_total')! >= 2);
  assert.ok(s.get('ferry_journal_bytes')! > 0);
  assert.ok(s.get('ferry_journal_files')! >= 1);
  assert.equal(typeof s.get('ferry_body_cache_bytes'), 'number');
  // every persistent send and ack was synced: the histograms saw them
  assert.ok(s.get('ferry_journal_fsync_seconds_count')! >= 1);
  assert.ok(s.get('ferry_journal_batch_records_count')! >= 1);
  assert.ok(s.get('ferry_journal_batch_records_sum')! >= 9);
  assert.ok(s.get('process_resident_memory_bytes')! > 0);
  assert.ok(s.has('nodejs_eventloop_lag_seconds'));
});

test('ferry_scheduled_messages counts the scheduled jobs waiting, as /api/stats does: a repeating job once, a cancelled one no more', async () => {
  const q = uniqueName('later');
  const producer = await connectStomp(broker.stompPort);
  clients.push(producer);
  const scheduled = async (): Promise<number | undefined> => {
    const answer = await api.get('/metrics');
    assert.equal(answer.status, 200);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: answer.text, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
    assert.match(answer.text, /^# HELP ferry_scheduled_messages .+$/m);
    assert.match(answer.text, /^# TYPE ferry_scheduled_messages gauge$/m);
    return samples(answer.text).get('ferry_scheduled_messages');
  };
  assert.equal(await scheduled(), 0, 'a series that reads 0 before anything is scheduled');
  // an hour away: none is due while the test runs
  await producer.sendConfirmed(`/queue/${q}`, 'one', { AMQ_SCHEDULED_DELAY: '3600000', persistent: 'true' });
  await producer.sendConfirmed(`/queue/${q}`, 'two', { AMQ_SCHEDULED_DELAY: '3600000' });
  await producer.sendConfirmed(`/queue/${q}`, 'every hour', { AMQ_SCHEDULED_DELAY: '3600000', AMQ_SCHEDULED_PERIOD: '3600000', AMQ_SCHEDULED_REPEAT: '5' });
  assert.equal(await scheduled(), 3);
  assert.equal((await api.get<{ scheduled: number }>('/api/stats')).body.scheduled, 3, '/api/stats says the same');

  const jobs = (await api.get<{ items: { id: string }[] }>('/api/v1/scheduled?limit=1000')).body.items;
  assert.equal((await api.delete(`/api/v1/scheduled/${encodeURIComponent(jobs[0]!.id)}`)).status, 204);
  assert.equal(await scheduled(), 2);
});

test('past metrics.maxDestinations the rest are summed under name="_other"', async () => {
  const prefix = uniqueName('many');
  const producer = await connectStomp(broker.stompPort);
  clients.push(producer);
  for (let i = 0; i < 10; i++) await producer.sendConfirmed(`/queue/${prefix}.${i}`, 'x');
  const s = samples((await api.get('/metrics')).text);
  const series = [...s.keys()].filter((k) => k.startsWith('ferry_destination_depth{'));
  // six of their own, and one _other per kind that has some
  assert.ok(series.length <= 6 + 2, series.join(', '));
  const other = s.get('ferry_destination_depth{kind="queue",name="_other"}');
  assert.ok(other !== undefined, series.join(', '));
  const total = series.reduce((sum, k) => sum + (k.includes('kind="queue"') ? s.get(k)! : 0), 0);
  const listed = (await api.get<{ items: { depth: number }[] }>('/api/v1/destinations?kind=queue&limit=1000')).body.items.reduce((sum, d) => sum + d.depth, 0);
  assert.equal(total, listed);
});

test('counters never go back: not when a queue is deleted, a temporary queue goes with its connection, or a destination leaves _other', async () => {
  const scrape = async (): Promise<Map<string, number>> => {
    const answer = await api.get('/metrics');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: answer.text, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
    return samples(answer.text);
  };
  const watched = (key: string): boolean => key.startsWith('ferry_messages_') || (key.startsWith('ferry_destination_') && key.includes('_total{') && key.includes(`name="_other"`));
  const notLower = (before: Map<string, number>, after: Map<string, number>, step: string): void => {
    for (const [key, value] of before) {
      if (watched(key)) assert.ok((after.get(key) ?? -1) >= value, `${step}: ${key} went from ${value} to ${after.get(key)}`);
    }
  };
  const producer = await connectStomp(broker.stompPort);
  clients.push(producer);
  // first in name order, so with series of their own; the others past metrics.maxDestinations
  const first = Array.from({ length: 6 }, (_, i) => `${uniqueName('a')}.${i}`);
  const last = Array.from({ length: 3 }, (_, i) => `${uniqueName('zz')}.${i}`);
  for (const q of [...first, ...last]) for (let i = 0; i < 5; i++) await producer.sendConfirmed(`/queue/${q}`, `m${i}`);
  const consumer = await connectStomp(broker.stompPort);
  clients.push(consumer);
  const inbox = await subscribeConfirmed(consumer, `/queue/${last[0]}`);
  await inbox.take(5);
  inbox.subscription.unsubscribe();

  const start = await scrape();
  assert.ok(start.has('ferry_destination_enqueued_total{kind="queue",name="_other"}'));
  assert.equal((await api.delete(`/api/v1/destinations/queue/${encodeURIComponent(first[0]!)}`)).status, 204);
  const afterKept = await scrape();
  notLower(start, afterKept, 'a queue with its own series deleted, another moved up from _other');
  assert.equal((await api.delete(`/api/v1/destinations/queue/${encodeURIComponent(last[0]!)}`)).status, 204);
  const afterOther = await scrape();
  notLower(afterKept, afterOther, 'a queue summed under _other deleted');

  const requester = await connectStomp(broker.stompPort);
  for (let i = 0; i < 4; i++) await requester.sendConfirmed('/temp-queue/replies', `r${i}`);
  const withTemporary = await scrape();
  notLower(afterOther, withTemporary, 'a temporary queue in use');
  await requester.disconnect();
  await eventually('the temporary queue gone', () => broker.server.broker.admin.destinationList().every((d) => !d.temporary));
  const end = await scrape();
  notLower(withTemporary, end, 'its connection gone');
  assert.ok(end.get('ferry_messages_enqueued_total')! >= start.get('ferry_messages_enqueued_total')! + 4, 'the temporary queue\'s messages stay counted');
  assert.ok(end.get('ferry_messages_dequeued_total')! >= start.get('ferry_messages_dequeued_total')!);
});

test('the broker\'s messages in and out count topic traffic: once in per message, once out per subscriber, durable or not, and a subscriber gone keeps its count', async () => {
  const totals = async (): Promise<{ enqueued: number; dequeued: number }> => {
    const messages = (await api.get<{ messages: { enqueued: number; dequeued: number } }>('/api/v1/broker')).body.messages;
    const scraped = samples((await api.get('/metrics')).text);
    assert.deepEqual([scraped.get('ferry_messages_enqueued_total'), scraped.get('ferry_messages_dequeued_total')], [messages.enqueued, messages.dequeued], 'the API and the metrics agree');
    return { enqueued: messages.enqueued, dequeued: messages.dequeued };
  };
  const topic = `/topic/${uniqueName('totals')}`;
  const durableClient = await connectStomp(broker.stompPort, { headers: { 'client-id': uniqueName('totals-client') } });
  const plain = [await connectStomp(broker.stompPort), await connectStomp(broker.stompPort)];
  const producer = await connectStomp(broker.stompPort);
  clients.push(durableClient, ...plain, producer);
  const inboxes = [
    await subscribeConfirmed(durableClient, topic, { 'activemq.subscriptionName': 'totals' }),
    ...(await Promise.all(plain.map((c) => subscribeConfirmed(c, topic)))),
  ];
  const before = await totals();
  for (let i = 0; i < 4; i++) await producer.sendConfirmed(topic, `t${i}`);
  for (const inbox of inboxes) await inbox.take(4);
  const expected = { enqueued: before.enqueued + 4, dequeued: before.dequeued + 12 };
  await eventually('every delivery counted', () => broker.server.broker.admin.messageTotals().dequeued === expected.dequeued);
  assert.deepEqual(await totals(), expected);

  // a non-durable subscriber leaves: what it took stays counted
  await plain[0]!.disconnect();
  await eventually('the subscription gone', () => broker.server.broker.admin.destination('topic', topic.slice('/topic/'.length)).consumers === 2);
  assert.deepEqual(await totals(), expected);
});

test('ferry_destination_paused is 1 for a paused queue and 0 once resumed; a queue paused among those summed makes _other 1', async () => {
  // its own broker, so that which queue has a series of its own does not hang on the other tests' queues
  const own = await startBroker({ 'metrics.maxDestinations': 1 });
  try {
    const client = new ApiClient(own.server.ports['http']!);
    const [kept, summed] = [uniqueName('a.paused'), uniqueName('b.paused')];
    for (const name of [kept, summed]) assert.equal((await client.post('/api/v1/destinations', { kind: 'queue', name })).status, 201);
    const paused = async (): Promise<[number | undefined, number | undefined]> => {
      const answer = await client.get('/metrics');
      const check = spawnSync('promtool', ['check', 'metrics'], { input: answer.text, encoding: 'utf8' });
      assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
      assert.match(answer.text, /^# TYPE ferry_destination_paused gauge$/m);
      const s = samples(answer.text);
      return [s.get(`ferry_destination_paused{kind="queue",name="${kept}"}`), s.get('ferry_destination_paused{kind="queue",name="_other"}')];
    };
    assert.deepEqual(await paused(), [0, 0]);
    assert.equal((await client.post(`/api/v1/destinations/queue/${encodeURIComponent(kept)}/pause`)).status, 200);
    assert.deepEqual(await paused(), [1, 0]);
    assert.equal((await client.post(`/api/v1/destinations/queue/${encodeURIComponent(summed)}/pause`)).status, 200);
    assert.deepEqual(await paused(), [1, 1]);
    assert.equal((await client.post(`/api/v1/destinations/queue/${encodeURIComponent(kept)}/resume`)).status, 200);
    assert.equal((await client.post(`/api/v1/destinations/queue/${encodeURIComponent(summed)}/resume`)).status, 200);
    assert.deepEqual(await paused(), [0, 0]);
  } finally {
    await own.stop();
  }
});

test('docs/management-api.md names every metric of Ferry\'s own that /metrics describes', async () => {
  const docs = readFileSync(new URL('../../../docs/management-api.md', import.meta.url), 'utf8');
  const scrape = await api.get('/metrics');
  assert.equal(scrape.status, 200);
  // a family is described (HELP and TYPE) even before it has a series, as the network connector's are on a broker without one
  const names = [...scrape.text.matchAll(/^# TYPE (ferry_\w+) /gm)].map((m) => m[1]!);
  assert.ok(names.includes('ferry_network_connector_up') && names.includes('ferry_limit_refusals_total'), names.join(' '));
  for (const name of names) assert.ok(docs.includes(`\`${name}`), `docs/management-api.md lists ${name}`);
});

test('/metrics needs monitor', async () => {
  const { FerryError } = await import('../../src/errors.js');
  const security = {
    authenticate: () => ({ username: 'x', groups: [], internal: false }),
    authorize: () => {
      throw new FerryError('FERRY_NOT_AUTHORIZED', 'no');
    },
  };
  const locked = await startBroker({}, { authenticator: security, authorizer: security });
  try {
    assert.equal((await new ApiClient(locked.server.ports['http']!).get('/metrics')).status, 403);
  } finally {
    await locked.stop();
  }
});
