/**
 * The topic trie behind `amq.topic` and every topic exchange: fixed cases from RabbitMQ's rules, and
 * a property test against a plain recursive matcher on random patterns and keys.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { TopicTrie } from '../../src/core/topic-trie.js';

/** The rule written down directly: `*` one word, `#` zero or more. Exponential, fine for short keys. */
function reference(pattern: string[], key: string[]): boolean {
  if (pattern.length === 0) return key.length === 0;
  const [head, ...rest] = pattern;
  if (head === '#') {
    for (let i = 0; i <= key.length; i++) if (reference(rest, key.slice(i))) return true;
    return false;
  }
  if (key.length === 0) return false;
  return (head === '*' || head === key[0]) && reference(rest, key.slice(1));
}

function matches(trie: TopicTrie<string>, key: string): string[] {
  const found = new Set<string>();
  trie.match(key, (value) => found.add(value));
  return [...found].sort();
}

test('fixed cases: * is one word, # zero or more anywhere, an empty key is one empty word', () => {
  const trie = new TopicTrie<string>();
  for (const pattern of ['a.*', 'a.#', '#', '#.b', 'a.#.b', '*.*', '', 'a.*.#.c']) trie.add(pattern, pattern);
  assert.deepEqual(matches(trie, 'a'), ['#', 'a.#']);
  assert.deepEqual(matches(trie, 'a.b'), ['#', '#.b', '*.*', 'a.#', 'a.#.b', 'a.*']);
  assert.deepEqual(matches(trie, 'a.x.y.b'), ['#', '#.b', 'a.#', 'a.#.b']);
  assert.deepEqual(matches(trie, 'a.x.c'), ['#', 'a.#', 'a.*.#.c']);
  assert.deepEqual(matches(trie, ''), ['', '#']);
  trie.remove('#', '#');
  trie.remove('a.#', 'a.#');
  assert.deepEqual(matches(trie, 'a'), []);
  assert.equal(trie.size, 6);
});

test('the trie agrees with the rule on random patterns and keys', () => {
  const word = fc.constantFrom('a', 'b', 'c');
  const patternWord = fc.constantFrom('a', 'b', 'c', '*', '#');
  fc.assert(
    fc.property(fc.array(fc.array(patternWord, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 6 }), fc.array(word, { minLength: 1, maxLength: 6 }), (patterns, key) => {
      const trie = new TopicTrie<string>();
      for (const p of patterns) trie.add(p.join('.'), p.join('.'));
      const expected = [...new Set(patterns.filter((p) => reference(p, key)).map((p) => p.join('.')))].sort();
      assert.deepEqual(matches(trie, key.join('.')), expected);
    }),
    { numRuns: 2000 },
  );
});

test('many # in a pattern cost at most nodes x words steps, not a step per way of splitting the key', () => {
  const trie = new TopicTrie<string>();
  trie.add(Array.from({ length: 30 }, () => '#').join('.') + '.z', 'deep');
  const key = Array.from({ length: 200 }, () => 'a').join('.');
  // a backtracking matcher takes about C(230, 30) steps here; this returns at once
  assert.deepEqual(matches(trie, key), []);
  assert.deepEqual(matches(trie, `${key}.z`), ['deep']);
});
