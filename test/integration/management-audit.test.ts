/**
 * Operators' changes through the management API (which the CLI and the console call) are logged at
 * info, once done, with the event, the destination, how many messages and who made the change.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiClient, basicAuth } from '../helpers/management.js';
import { eventually, uniqueName } from '../helpers/raw-stomp.js';
import { startSecureBroker, type SecureBroker } from '../helpers/security.js';

let broker: SecureBroker;
let api: ApiClient;
const logLines: Record<string, unknown>[] = [];

before(async () => {
  broker = await startSecureBroker({}, { logLines });
  api = new ApiClient(broker.server.ports['http']!, basicAuth('admin', 'admin-secret'));
});

after(async () => {
  await broker.stop();
});

async function fill(queue: string, n: number, colour = 'red'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const sent = await api.post<{ id: string }>(`/api/v1/destinations/queue/${queue}/messages`, { body: `m${i}`, properties: { colour } });
    assert.equal(sent.status, 201);
    ids.push(sent.body.id);
  }
  return ids;
}

/** The one log line of `event` about `destination`, once it is written. */
async function line(event: string, destination: string): Promise<Record<string, unknown>> {
  const find = (): Record<string, unknown>[] => logLines.filter((l) => l['event'] === event && l['destination'] === destination);
  await eventually(`a ${event} line for ${destination}`, () => find().length > 0);
  assert.equal(find().length, 1, JSON.stringify(find()));
  return find()[0]!;
}

const INFO = 30;

test('a purge, through the API and through the route `ferry purge` calls, is logged with its queue, count and user', async () => {
  const q = uniqueName('audit.purged');
  await fill(q, 10);
  assert.deepEqual((await api.post(`/api/v1/destinations/queue/${q}/purge`)).body, { purged: 10 });
  const purged = await line('management.purged', `queue://${q}`);
  assert.equal(purged['level'], INFO);
  assert.equal(purged['count'], 10);
  assert.equal(purged['user'], 'admin');
  assert.match(String(purged['remoteAddress']), /^127\.0\.0\.1:\d+$/);
  assert.match(String(purged['msg']), new RegExp(`^queue://${q.replace(/\./g, '\\.')} purge of 10 messages by admin from 127\\.0\\.0\\.1:\\d+$`));

  const legacy = uniqueName('audit.legacy');
  await fill(legacy, 2);
  assert.equal((await api.delete(`/api/queues/${legacy}/messages`)).status, 200);
  assert.deepEqual([(await line('management.purged', `queue://${legacy}`))['count'], (await line('management.purged', `queue://${legacy}`))['user']], [2, 'admin']);
});

test('a move, a deleted message and a deleted queue are logged with their counts and user', async () => {
  const from = uniqueName('audit.from');
  const to = uniqueName('audit.to');
  await fill(from, 3, 'red');
  await fill(from, 2, 'blue');
  const moved = await api.post(`/api/v1/queues/${from}/messages/move`, { to: `queue://${to}`, selector: "colour = 'red'" });
  assert.deepEqual(moved.body, { moved: 3 });
  const move = await line('management.messages-moved', `queue://${from}`);
  assert.deepEqual([move['to'], move['count'], move['selector'], move['user']], [`queue://${to}`, 3, "colour = 'red'", 'admin']);
  assert.match(String(move['msg']), / move of 3 messages to queue:\/\//);

  const [first] = (await api.get<{ items: { id: string }[] }>(`/api/v1/queues/${to}/messages`)).body.items;
  assert.equal((await api.delete(`/api/v1/queues/${to}/messages/${encodeURIComponent(first!.id)}`)).status, 204);
  const deletedMessage = await line('management.message-deleted', `queue://${to}`);
  assert.deepEqual([deletedMessage['messageId'], deletedMessage['count'], deletedMessage['user']], [first!.id, 1, 'admin']);

  assert.equal((await api.delete(`/api/v1/destinations/queue/${encodeURIComponent(to)}`)).status, 204);
  const deleted = await line('management.destination-deleted', `queue://${to}`);
  assert.deepEqual([deleted['count'], deleted['user'], deleted['level']], [2, 'admin', INFO]);
  assert.match(String(deleted['msg']), / deleted with 2 messages by admin /);
});

test('a message sent through the API (the console\'s Send page, `ferry import`) is logged without its body, and so is the queue it creates', async () => {
  const q = uniqueName('audit.sent');
  const [first, second] = await fill(q, 2);
  const created = await line('management.destination-created', `queue://${q}`);
  assert.deepEqual([created['user'], created['level']], ['admin', INFO]);
  assert.match(String(created['msg']), / created by a send by admin from 127\.0\.0\.1:\d+$/);
  const sentLines = (): Record<string, unknown>[] => logLines.filter((l) => l['event'] === 'management.message-sent' && l['destination'] === `queue://${q}`);
  await eventually('two management.message-sent lines', () => sentLines().length >= 2);
  const lines = sentLines();
  assert.deepEqual(lines.map((l) => [l['messageId'], l['count'], l['user'], l['level']]), [[first, 1, 'admin', INFO], [second, 1, 'admin', INFO]]);
  // the bodies were m0 and m1: no line of this queue carries them
  for (const l of logLines.filter((l) => JSON.stringify(l).includes(q))) assert.doesNotMatch(JSON.stringify(l), /"m[01]"/);
});

test('a refused change is not logged as done', async () => {
  const q = uniqueName('audit.refused');
  await fill(q, 1);
  const reader = api.as(basicAuth('reader', 'reader-secret'));
  assert.equal((await reader.post(`/api/v1/destinations/queue/${q}/purge`)).status, 403);
  assert.equal(logLines.some((l) => l['event'] === 'management.purged' && l['destination'] === `queue://${q}`), false);
});
