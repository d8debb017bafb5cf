import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConsumerInfo } from '../../src/core/index.js';
import { buildMessage } from '../../src/core/message.js';
import { compileSelector } from '../../src/core/selector/index.js';
import { conduitName, demandFrom, demandLabel, demandPathOf, linkSelector, type DemandRules } from '../../src/network/demand.js';

let nextId = 1;
const consumer = (name: string, extra: Partial<ConsumerInfo> = {}, kind: 'queue' | 'topic' = 'queue'): ConsumerInfo => ({
  id: nextId++,
  connectionId: 'c1',
  protocol: 'stomp',
  internal: false,
  destination: { kind, name },
  selector: undefined,
  priority: 0,
  durable: false,
  durableName: undefined,
  label: undefined,
  ...extra,
});

const rules: DemandRules = { self: 'B', neighbour: 'A', ttl: 3, include: [], exclude: [] };

test('a local consumer is demand that begins here; a connector\'s is demand that carries its path on', () => {
  const demand = demandFrom([consumer('orders'), consumer('orders', { label: demandLabel(['C'], 4) })], rules);
  assert.deepEqual(demand.get('queue:orders')?.path, ['B']);
  const viaC = demandFrom([consumer('orders', { label: demandLabel(['D', 'C'], 4) })], rules);
  assert.deepEqual(viaC.get('queue:orders')?.path, ['D', 'C', 'B']);
  assert.deepEqual(demandPathOf(consumer('x', { label: 'sub-1' })), []);
});

test('demand never goes back to a broker it passed, nor past the TTL', () => {
  assert.equal(demandFrom([consumer('q', { label: demandLabel(['A'], 1) })], rules).size, 0);
  assert.equal(demandFrom([consumer('q', { label: demandLabel(['C', 'A', 'D'], 1) })], rules).size, 0);
  assert.equal(demandFrom([consumer('q', { label: demandLabel(['B'], 1) })], rules).size, 0);
  // with ttl 3, demand that passed C and D may reach a third broker, one more may not
  assert.equal(demandFrom([consumer('q', { label: demandLabel(['C', 'D'], 1) })], rules).size, 1);
  assert.equal(demandFrom([consumer('q', { label: demandLabel(['C', 'D', 'E'], 1) })], rules).size, 0);
});

test('a durable subscription makes topic demand durable; the durable conduit\'s name carries the path, read back whatever the pattern holds', () => {
  const live = demandFrom([consumer('prices.>', {}, 'topic')], rules).get('topic:prices.>')!;
  assert.equal(live.durable, false);
  const kept = demandFrom([consumer('prices.>', {}, 'topic'), consumer('prices.>', { durable: true, label: 'feed' }, 'topic')], rules).get('topic:prices.>')!;
  assert.equal(kept.durable, true);
  assert.equal(conduitName(kept), 'ferry-network|B|prices.>');
  // on the neighbour, the durable conduit is demand that came through B (and C before it)
  assert.deepEqual(demandPathOf(consumer('odd|name', { durable: true, label: conduitName({ ...kept, path: ['C', 'B'], destination: { kind: 'topic', name: 'odd|name' } }) }, 'topic')), ['C', 'B']);
  const fromA = demandFrom([consumer('prices.>', { durable: true, label: conduitName({ ...kept, path: ['A'] }) }, 'topic')], rules);
  assert.equal(fromA.size, 0, 'a durable conduit A keeps here is not demand to send back to A');
});

test('selectors are joined, and one consumer that takes everything takes the selector away', () => {
  const selective = demandFrom([consumer('q', { selector: "region = 'eu'" }), consumer('q', { selector: 'size > 3' })], rules);
  assert.equal(selective.get('queue:q')?.selector, "(region = 'eu') OR (size > 3)");
  const open = demandFrom([consumer('q', { selector: "region = 'eu'" }), consumer('q')], rules);
  assert.equal(open.get('queue:q')?.selector, undefined);
});

test('include and exclude lists pick destinations by name and wildcard; temporary ones never go', () => {
  const picky: DemandRules = { ...rules, include: ['orders.>'], exclude: ['orders.local.>'] };
  const demand = demandFrom([consumer('orders.eu'), consumer('orders.local.x'), consumer('stock'), consumer('orders.>', {}, 'topic'), consumer('ID:c:1', { destination: { kind: 'queue', name: 'ID:c:1', temporary: true } })], picky);
  assert.deepEqual([...demand.keys()].sort(), ['queue:orders.eu', 'topic:orders.>']);
});

test('the link selector keeps out messages that were here, and messages past the TTL', () => {
  const selfName = 'my_b';
  const demand = demandFrom([consumer('q', { selector: "colour = 'red'" })], { ...rules, self: selfName });
  const selector = compileSelector(linkSelector({ ...rules, self: selfName, ttl: 3 }, demand.get('queue:q')!), { convertStringExpressions: true });
  const message = (properties: Record<string, string>) =>
    buildMessage({ destination: { kind: 'queue', name: 'q' }, body: Buffer.alloc(0), properties: new Map(Object.entries({ colour: 'red', ...properties })) }, 'ID:1', 0);
  assert.ok(selector.matches(message({})), 'a message never forwarded');
  assert.ok(selector.matches(message({ FerryNetworkPath: '|A|C|', FerryNetworkHops: '2' })));
  assert.ok(!selector.matches(message({ FerryNetworkPath: '|A|my_b|', FerryNetworkHops: '2' })), 'it was here');
  // `_` in a LIKE pattern would match any character: the name is escaped
  assert.ok(selector.matches(message({ FerryNetworkPath: '|A|myXb|', FerryNetworkHops: '2' })));
  assert.ok(!selector.matches(message({ FerryNetworkPath: '|A|C|D|', FerryNetworkHops: '3' })), 'past the TTL');
  assert.ok(!selector.matches(message({ colour: 'blue' })), 'no local consumer selects it');
});

test('the link selector of a wildcard demand keeps the destinations the lists leave out on the neighbour', () => {
  const picky: DemandRules = { ...rules, include: ['orders.>', 'q.*'], exclude: ['orders.local.>', 'orders.*.draft'] };
  const message = (kind: 'queue' | 'topic', name: string) => buildMessage({ destination: { kind, name }, body: Buffer.alloc(0) }, 'ID:1', 0);
  for (const kind of ['queue', 'topic'] as const) {
    const forwarded = (pattern: string, name: string): boolean => compileSelector(linkSelector(picky, demandFrom([consumer(pattern, {}, kind)], picky).get(`${kind}:${pattern}`)!)).matches(message(kind, name));
    assert.ok(forwarded('orders.>', 'orders.x'));
    assert.ok(forwarded('orders.>', 'orders.eu.paid'));
    assert.ok(!forwarded('orders.>', 'orders.local.y'), 'excluded by orders.local.>');
    assert.ok(!forwarded('orders.>', 'orders.eu.draft'), 'excluded by orders.*.draft');
    assert.ok(forwarded('orders.>', 'orders.eu.x.draft'), '* is one level');
    assert.ok(forwarded('q.*', 'q.a'));
    // demand for q.> passes the include q.* by its name, but only one level of it is included
    assert.ok(forwarded('q.>', 'q.a'));
    assert.ok(!forwarded('q.>', 'q.a.b'), 'not included: q.* is one level');
  }
});
