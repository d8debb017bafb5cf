import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isFerryError } from '../../src/errors.js';
import { buildMessage } from '../../src/core/message.js';
import type { Message, PropertyValue } from '../../src/core/message.js';
import { MAX_SELECTOR_DEPTH, MAX_SELECTOR_LENGTH, compileSelector } from '../../src/core/selector/index.js';
import type { Selector } from '../../src/core/selector/index.js';

function messageWith(properties: Record<string, PropertyValue>): Message {
  return buildMessage(
    { destination: { kind: 'queue', name: 'selector.limits' }, body: Buffer.alloc(0), properties: new Map(Object.entries(properties)), timestamp: 1000 },
    'ID:selector-limits-1',
    1000,
  );
}

function refusal(selector: string): Error {
  try {
    compileSelector(selector);
  } catch (err) {
    assert.ok(isFerryError(err, 'FERRY_SELECTOR_INVALID'), `${selector.slice(0, 60)}…: ${String(err)}`);
    return err;
  }
  assert.fail(`selector was accepted: ${selector.slice(0, 60)}…`);
}

const quoted = (text: string): string => `'${text.replaceAll("'", "''")}'`;

// What LIKE meant when it was a RegExp: the reference the matcher is compared with, on inputs
// small enough that backtracking does not matter.
function referenceLike(pattern: string, escape: string | undefined, value: string): boolean {
  const special = /[\\^$.*+?()[\]{}|/]/g;
  const literal = (c: string): string => c.replace(special, '\\$&');
  const chars = Array.from(pattern);
  let source = '';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (escape !== undefined && c === escape) {
      const next = chars[i + 1];
      if (next === '_' || next === '%' || next === escape) {
        source += literal(next);
        i++;
      } else source += literal(c);
    } else if (c === '%') source += '.*';
    else if (c === '_') source += '.';
    else source += literal(c);
  }
  return new RegExp(`^${source}$`, 'su').test(value);
}

test('LIKE means what the RegExp translation meant, on random patterns and values', () => {
  // few distinct characters, so that patterns and values overlap often
  const unit = fc.constantFrom('a', 'b', '%', '_', '\\', '!', '\u{1F600}', '\uD83D', '\uDE00', 'é', '\n');
  const text = fc.string({ unit, maxLength: 10 });
  fc.assert(
    fc.property(text, text, fc.option(fc.constantFrom('\\', '!', '%', '_', 'a', '\u{1F600}')), (pattern, value, escape) => {
      const selector = compileSelector(`v LIKE ${quoted(pattern)}${escape === null ? '' : ` ESCAPE ${quoted(escape)}`}`);
      const expected = referenceLike(pattern, escape ?? undefined, value);
      assert.equal(selector.matches(messageWith({ v: value })), expected, `${JSON.stringify(value)} LIKE ${JSON.stringify(pattern)} ESCAPE ${JSON.stringify(escape)}`);
    }),
    { numRuns: 20_000 },
  );
});

/**
 * Nanoseconds per call of `run`, the least of several rounds, each long enough (a few ms) for the
 * clock to resolve it. A call that takes seconds is measured once and returned as it is.
 */
function cost(run: () => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    let calls = 1;
    for (;;) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < calls; i++) run();
      const elapsed = Number(process.hrtime.bigint() - start);
      if (elapsed >= 2_000_000 || elapsed > 1e9) {
        best = Math.min(best, elapsed / calls);
        break;
      }
      calls *= 4;
    }
    if (best > 1e9) break;
  }
  return best;
}

/**
 * How many times a plain selector's cost a pathological one may take. A plain `LIKE '%x%'` is one
 * indexOf, which scans at memchr speed. Measured here: below 10 for most patterns; a 51-character
 * literal segment is searched by a Knuth-Morris-Pratt loop in JavaScript, 60 to 600 times that
 * native scan depending on how the value string is held and how loaded the machine is. Backtracking
 * is nowhere near: the RegExp took 11 s for 100 characters, some 10^7 times a plain scan, and grows
 * exponentially from there.
 */
const BUDGET = 5000;

function evaluationCost(selector: Selector, message: Message): number {
  return cost(() => {
    selector.matches(message);
  });
}

test('pathological LIKE patterns cost no more than a plain scan of the same value, within a budget', () => {
  const patterns = [
    '%a%a%a%a%a%b',
    '%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%b',
    `${'%a'.repeat(200)}%b`,
    `%${'a'.repeat(50)}b%`,
    '%a_a_a_a_a_b%',
    '%_a%_a%_a%_a%_b',
    '%a%a%a%a%a%b%',
    `${'_'.repeat(40)}%b`,
  ];
  for (const length of [100, 1000, 10_000]) {
    const message = messageWith({ p: 'a'.repeat(length) });
    const plain = evaluationCost(compileSelector("p LIKE '%x%'"), message);
    for (const pattern of patterns) {
      for (const selector of [`p LIKE '${pattern}'`, `p NOT LIKE '${pattern}'`]) {
        const compiled = compileSelector(selector);
        const expected = selector.includes('NOT');
        assert.equal(compiled.matches(message), expected, selector);
        const ratio = evaluationCost(compiled, message) / plain;
        if (process.env['SELECTOR_RATIOS'] !== undefined) console.log(length, selector.slice(0, 40), ratio.toFixed(1));
        assert.ok(ratio <= BUDGET, `${selector.slice(0, 60)} over ${length} characters: ${ratio.toFixed(1)} times a plain LIKE (budget ${BUDGET})`);
      }
    }
  }
});

test('deep nesting and long NOT chains are refused quickly with FERRY_SELECTOR_INVALID, naming the limit', () => {
  const deep = [
    `${'('.repeat(1000)}p = 1${')'.repeat(1000)}`,
    `${'NOT '.repeat(12_000)}p = 1`,
    `${'- '.repeat(5000)}p = 1`,
    `p = ${'p + '.repeat(5000)}1`,
    `${'('.repeat(MAX_SELECTOR_DEPTH + 1)}p = 1${')'.repeat(MAX_SELECTOR_DEPTH + 1)}`,
  ];
  for (const selector of deep) {
    const err = refusal(selector);
    assert.match(err.message, new RegExp(`nests deeper than ${MAX_SELECTOR_DEPTH} levels`));
    // a plain selector of the same length, to compare the time it takes to compile
    const plain = 'p = 1 OR '.repeat(Math.ceil(selector.length / 9)) + 'p = 1';
    const ratio = cost(() => refusal(selector)) / cost(() => compileSelector(plain));
    if (process.env['SELECTOR_RATIOS'] !== undefined) console.log(selector.slice(0, 20), ratio.toFixed(1));
    assert.ok(ratio <= BUDGET, `${selector.slice(0, 30)}…: ${ratio.toFixed(1)} times a plain compile (budget ${BUDGET})`);
  }
});

test('the deepest selector accepted compiles and evaluates, within a budget', () => {
  const message = messageWith({ p: 1 });
  const plain = evaluationCost(compileSelector('p = 1'), message);
  const accepted = [
    `${'('.repeat(MAX_SELECTOR_DEPTH)}p = 1${')'.repeat(MAX_SELECTOR_DEPTH)}`,
    `${'NOT '.repeat(MAX_SELECTOR_DEPTH - 2)}p = 1`,
  ];
  for (const text of accepted) {
    const selector = compileSelector(text);
    assert.equal(selector.matches(message), !text.startsWith('NOT') || (MAX_SELECTOR_DEPTH - 2) % 2 === 0, text.slice(0, 30));
    // each NOT is one closure call: a hundred of them against one comparison
    const ratio = evaluationCost(selector, message) / plain;
    assert.ok(ratio <= 2 * MAX_SELECTOR_DEPTH, `${text.slice(0, 30)}…: ${ratio.toFixed(1)} times 'p = 1'`);
  }
});

test('long chains of AND and OR and long IN lists are not nesting: they compile and evaluate', () => {
  const message = messageWith({ p: 9999 });
  const or = Array.from({ length: 10_000 }, (_, i) => `p = ${i}`).join(' OR ');
  assert.equal(compileSelector(or).matches(message), true);
  const and = Array.from({ length: 10_000 }, (_, i) => `p > ${i - 1}`).join(' AND ');
  assert.equal(compileSelector(and).matches(message), true);
  assert.equal(compileSelector(`${and} AND p < 0`).matches(message), false);
  // 5,000 UUID-sized ids
  const ids = Array.from({ length: 5000 }, (_, i) => quoted(`id-${i}`.padEnd(36, '-'))).join(', ');
  const list = compileSelector(`q IN (${ids})`);
  assert.equal(list.matches(messageWith({ q: 'id-4999'.padEnd(36, '-') })), true);
  assert.equal(list.matches(messageWith({ q: 'id-5000'.padEnd(36, '-') })), false);
});

test('a selector longer than the limit is refused, naming the limit', () => {
  const longest = `p = ${quoted('x'.repeat(MAX_SELECTOR_LENGTH - 6))}`;
  assert.equal(longest.length, MAX_SELECTOR_LENGTH);
  assert.equal(compileSelector(longest).matches(messageWith({ p: 'x'.repeat(MAX_SELECTOR_LENGTH - 6) })), true);
  const err = refusal(`${longest} `);
  assert.match(err.message, new RegExp(`${MAX_SELECTOR_LENGTH + 1} characters long, more than the limit of ${MAX_SELECTOR_LENGTH}`));
});
