import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isFerryError } from '../../src/errors.js';
import { buildMessage } from '../../src/core/message.js';
import type { Message, MessageInit, PropertyValue } from '../../src/core/message.js';
import { compileSelector } from '../../src/core/selector/index.js';
import { invalidSelectors, selectorCases } from './selector-cases.js';
import type { CaseMessage } from './selector-cases.js';

function messageOf(init: CaseMessage = {}): Message {
  const messageInit: MessageInit = {
    destination: { kind: 'queue', name: 'selector.test' },
    body: Buffer.alloc(0),
    properties: new Map(Object.entries(init.properties ?? {})),
    timestamp: init.timestamp ?? 1000,
  };
  if (init.persistent !== undefined) messageInit.persistent = init.persistent;
  if (init.priority !== undefined) messageInit.priority = init.priority;
  if (init.expiration !== undefined) messageInit.expiration = init.expiration;
  if (init.correlationId !== undefined) messageInit.correlationId = init.correlationId;
  if (init.type !== undefined) messageInit.type = init.type;
  if (init.groupId !== undefined) messageInit.groupId = init.groupId;
  if (init.groupSeq !== undefined) messageInit.groupSeq = init.groupSeq;
  return buildMessage(messageInit, init.id ?? 'ID:selector-test-1', 1000);
}

function refusal(selector: string, options?: { convertStringExpressions?: boolean }): Error {
  try {
    compileSelector(selector, options);
  } catch (err) {
    assert.ok(isFerryError(err, 'FERRY_SELECTOR_INVALID'), `${selector}: ${String(err)}`);
    return err;
  }
  assert.fail(`selector was accepted: ${selector}`);
}

test('the conformance table has at least 150 cases', () => {
  assert.ok(selectorCases.length >= 150, `only ${selectorCases.length} cases`);
});

test('conformance table', () => {
  const failures: string[] = [];
  for (const item of selectorCases) {
    const options = item.convertStringExpressions === undefined ? undefined : { convertStringExpressions: item.convertStringExpressions };
    const selector = compileSelector(item.selector, options);
    const context = item.deliveryCount === undefined ? undefined : { deliveryCount: item.deliveryCount };
    const actual = selector.matches(messageOf(item.message), context);
    if (actual !== item.expected) {
      failures.push(`${item.selector}${item.convertStringExpressions === true ? ' (converting strings)' : ''}: expected ${item.expected}, got ${actual}`);
    }
  }
  assert.deepEqual(failures, []);
});

test('invalid selectors are refused with FERRY_SELECTOR_INVALID and a column', () => {
  assert.ok(invalidSelectors.length >= 15);
  for (const selector of invalidSelectors) {
    const err = refusal(selector);
    assert.match(err.message, /^selector error at column \d+: /, selector);
    assert.ok(err.message.includes(`"${selector}"`), `${selector}: the message quotes the selector: ${err.message}`);
  }
});

test('error messages name the column and the token', () => {
  assert.equal(
    refusal('price > AND x').message,
    `selector error at column 9: expected a value after '>' but found 'AND' in "price > AND x"`,
  );
  assert.match(refusal("s = 'abc").message, /column 5: string literal is not closed/);
  assert.match(refusal('(i = 5').message, /column 7: expected '\)' to close the '\(' at column 1 but found the end of the selector/);
  assert.match(refusal("s LIKE 'a' ESCAPE 'ab'").message, /column 19: the ESCAPE character must be exactly one character/);
  assert.match(refusal('i + 1').message, /column 1: expected a condition \(true or false\) but 'i \+ 1' is a number/);
  assert.match(refusal("i > 'abc'").message, /column 5: 'abc' is a string, but '>' applies only to numbers/);
  assert.match(refusal('i != 5').message, /column 3: .*'<>'/);
});

test('a long selector is quoted around the error', () => {
  const selector = `${'a = 1 AND '.repeat(40)}b = = 2`;
  const message = refusal(selector).message;
  assert.match(message, /column 405: expected a value after '=' but found '='/);
  assert.ok(message.length < 300, message);
  assert.ok(message.includes('…'));
});

test('an empty or blank selector matches every message', () => {
  for (const text of ['', '   ', '\n\t ']) {
    const selector = compileSelector(text);
    assert.equal(selector.text, text);
    assert.equal(selector.matches(messageOf()), true);
  }
});

test('the selector keeps its text', () => {
  assert.equal(compileSelector("colour = 'red'").text, "colour = 'red'");
});

test('a number and a string literal may meet only when strings are converted', () => {
  refusal("'5' = 5");
  const selector = compileSelector("'5' = 5", { convertStringExpressions: true });
  assert.equal(selector.matches(messageOf()), true);
});

test('one compiled selector serves many messages and deliveries', () => {
  const selector = compileSelector("JMSXDeliveryCount > 1 AND colour LIKE 'r%'");
  const red = messageOf({ properties: { colour: 'red' } });
  const blue = messageOf({ properties: { colour: 'blue' } });
  assert.equal(selector.matches(red), false);
  assert.equal(selector.matches(red, { deliveryCount: 2 }), true);
  assert.equal(selector.matches(blue, { deliveryCount: 2 }), false);
  assert.equal(selector.matches(red, {}), false);
});

// Random well-formed selectors from the grammar, typed so that they compile.
const identifiers = ['a', 'b', 'c', 'price', 'name', 'flag', 'x_1', '$y', 'JMSPriority', 'JMSType', 'JMSXDeliveryCount', 'JMSRedelivered', 'JMSTimestamp'];
const keywordCase = (word: string): fc.Arbitrary<string> =>
  fc.constantFrom(word, word.toLowerCase(), word[0] + word.slice(1).toLowerCase());
const identifier = fc.constantFrom(...identifiers);
const quoted = (text: string): string => `'${text.replaceAll("'", "''")}'`;
const stringLiteral = fc.string({ unit: fc.constantFrom('a', 'b', "'", '%', '_', '\\', '.', '*', '(', '[', '$', ' ', 'é'), maxLength: 6 }).map(quoted);
const numberLiteral = fc.oneof(
  fc.nat(1_000_000).map(String),
  fc.nat(255).map((n) => `0x${n.toString(16)}`),
  fc.nat(255).map((n) => `0${n.toString(8)}`),
  fc.nat(1000).map((n) => `${n}L`),
  fc.tuple(fc.nat(1000), fc.nat(99)).map(([a, b]) => `${a}.${b}`),
  fc.tuple(fc.nat(99), fc.integer({ min: -5, max: 5 })).map(([a, e]) => `${a}E${e}`),
  fc.nat(99).map((n) => `.${n}`),
);

const { condition } = fc.letrec((tie) => ({
  number: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    numberLiteral,
    identifier,
    fc.tuple(tie('number'), fc.constantFrom('+', '-', '*', '/', '%'), tie('number')).map(([l, op, r]) => `${String(l)} ${op} ${String(r)}`),
    tie('number').map((n) => `-${String(n)}`),
    tie('number').map((n) => `(${String(n)})`),
  ),
  string: fc.oneof(stringLiteral, identifier),
  condition: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    keywordCase('TRUE'),
    keywordCase('FALSE'),
    identifier,
    fc.tuple(tie('number'), fc.constantFrom('=', '<>', '<', '<=', '>', '>='), tie('number')).map(([l, op, r]) => `${String(l)} ${op} ${String(r)}`),
    fc.tuple(tie('string'), fc.constantFrom('=', '<>'), tie('string')).map(([l, op, r]) => `${String(l)} ${op} ${String(r)}`),
    fc.tuple(tie('number'), fc.boolean(), keywordCase('BETWEEN'), tie('number'), tie('number')).map(
      ([v, not, between, lo, hi]) => `${String(v)} ${not ? 'NOT ' : ''}${between} ${String(lo)} AND ${String(hi)}`,
    ),
    fc.tuple(identifier, fc.boolean(), stringLiteral, fc.option(fc.constantFrom('\\', '!', "'", '%', '_'))).map(
      ([v, not, pattern, escape]) => `${v} ${not ? 'NOT ' : ''}LIKE ${pattern}${escape === null ? '' : ` ESCAPE ${quoted(escape)}`}`,
    ),
    fc.tuple(identifier, fc.boolean(), fc.array(fc.oneof(stringLiteral, numberLiteral), { minLength: 1, maxLength: 4 })).map(
      ([v, not, list]) => `${v} ${not ? 'NOT ' : ''}IN (${list.join(', ')})`,
    ),
    fc.tuple(identifier, fc.boolean()).map(([v, not]) => `${v} IS ${not ? 'NOT ' : ''}NULL`),
    tie('condition').map((c) => `NOT ${String(c)}`),
    fc.tuple(tie('condition'), keywordCase('AND'), tie('condition')).map(([l, op, r]) => `${String(l)} ${op} ${String(r)}`),
    fc.tuple(tie('condition'), keywordCase('OR'), tie('condition')).map(([l, op, r]) => `${String(l)} ${op} ${String(r)}`),
    tie('condition').map((c) => `(${String(c)})`),
  ),
}));

const propertyValue: fc.Arbitrary<PropertyValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.string({ maxLength: 4 }),
  fc.constantFrom('5', '2.5', 'true', '-0', '1e3'),
);
const properties = fc.dictionary(fc.constantFrom(...identifiers.filter((name) => !name.startsWith('JMS'))), propertyValue);

test('random well-formed selectors compile and evaluate without throwing', () => {
  fc.assert(
    fc.property(
      condition,
      properties,
      fc.boolean(),
      fc.integer({ min: 1, max: 5 }),
      (text, props, convertStringExpressions, deliveryCount) => {
        const selector = compileSelector(String(text), { convertStringExpressions });
        const negation = compileSelector(`NOT (${String(text)})`, { convertStringExpressions });
        const message = messageOf({ properties: props });
        const matched = selector.matches(message, { deliveryCount });
        const negated = negation.matches(message, { deliveryCount });
        assert.equal(typeof matched, 'boolean');
        // Three-valued logic: a condition and its negation are never both TRUE.
        assert.ok(!(matched && negated), String(text));
      },
    ),
    { numRuns: 2000 },
  );
});
