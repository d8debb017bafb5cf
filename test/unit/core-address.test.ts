import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SubscriptionIndex, matchesPattern, validateDestinationName } from '../../src/core/address.js';
import { EntryList } from '../../src/core/entry-list.js';

const cases: [string, string, boolean][] = [
  ['a.b', 'a.b', true],
  ['a.b', 'a.c', false],
  ['a.*', 'a.b', true],
  ['a.*', 'a.b.c', false],
  ['a.*', 'a', false],
  ['a.>', 'a.b', true],
  ['a.>', 'a.b.c', true],
  ['a.>', 'a', false],
  ['*.b', 'a.b', true],
  ['*.*', 'a.b', true],
  ['>', 'a', true],
  ['>', 'a.b.c', true],
  ['a.*.c', 'a.x.c', true],
  ['a.*.c', 'a.x.d', false],
];

test('wildcard matching, and the index agrees with it', () => {
  const index = new SubscriptionIndex<string>();
  for (const [pattern] of cases) index.add(pattern, pattern);
  for (const [pattern, name, expected] of cases) {
    assert.equal(matchesPattern(pattern, name), expected, `${pattern} vs ${name}`);
    const found: string[] = [];
    index.match(name, (p) => found.push(p));
    assert.equal(found.includes(pattern), expected, `index: ${pattern} vs ${name}`);
  }
});

test('index removal prunes and keeps the rest', () => {
  const index = new SubscriptionIndex<number>();
  index.add('a.b', 1);
  index.add('a.>', 2);
  index.remove('a.b', 1);
  const found: number[] = [];
  index.match('a.b', (v) => found.push(v));
  assert.deepEqual(found, [2]);
  assert.equal(index.size, 1);
});

test('the index remembers matches, and forgets them when a subscription comes or goes', () => {
  const index = new SubscriptionIndex<string>();
  const matched = (name: string): string[] => {
    const out: string[] = [];
    index.match(name, (v) => out.push(v));
    return out.sort();
  };
  index.add('prices.*', 'any price');
  assert.deepEqual(matched('prices.eur'), ['any price']);
  index.add('prices.eur', 'euro');
  assert.deepEqual(matched('prices.eur'), ['any price', 'euro']);
  index.remove('prices.*', 'any price');
  assert.deepEqual(matched('prices.eur'), ['euro']);
  assert.deepEqual(matched('prices.usd'), []);
  index.add('>', 'all');
  // past the names it remembers it starts again, and still answers right
  let visits = 0;
  for (let i = 0; i < 25_000; i++) index.match(`t.${i}`, () => visits++);
  assert.equal(visits, 25_000);
  assert.deepEqual(matched('prices.usd'), ['all']);
  assert.deepEqual(matched('prices.eur'), ['all', 'euro']);
});

test('invalid names are refused with a stable code', () => {
  assert.throws(() => validateDestinationName('', false), { code: 'FERRY_DESTINATION_INVALID' });
  assert.throws(() => validateDestinationName('a.*', false), { code: 'FERRY_DESTINATION_INVALID' });
  assert.throws(() => validateDestinationName('a.b*', true), { code: 'FERRY_DESTINATION_INVALID' });
  assert.throws(() => validateDestinationName('a.>.b', true), { code: 'FERRY_DESTINATION_INVALID' });
  assert.doesNotThrow(() => validateDestinationName('a.*.>', true));
});

test('entries given back return to their place in queue order', () => {
  const list = new EntryList<{ seq: number }>();
  for (let seq = 1; seq <= 5; seq++) list.push({ seq });
  const taken = [list.shift()!, list.shift()!, list.shift()!];
  list.push(taken[2]!);
  list.push(taken[0]!);
  assert.deepEqual([...list].map((e) => e.seq), [1, 3, 4, 5]);
  list.push(taken[1]!);
  const order: number[] = [];
  while (list.length > 0) order.push(list.shift()!.seq);
  assert.deepEqual(order, [1, 2, 3, 4, 5]);
});
