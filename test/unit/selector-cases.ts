/**
 * Conformance table for JMS message selectors (JMS 1.1 §3.8.1, Jakarta Messaging "Message selector").
 * Each expectation is what the spec's rules give; comments name the rule where it is not obvious.
 * Reminders of the rules used most:
 * - a selector selects a message only when it evaluates to TRUE; FALSE and UNKNOWN do not select;
 * - comparison or arithmetic with NULL (a missing property) is UNKNOWN, and NOT UNKNOWN is UNKNOWN;
 * - "if the comparison of non-like type values is attempted, the value of the operation is false"
 *   (FALSE, not UNKNOWN: so NOT of it is TRUE);
 * - strings and booleans compare with = and <> only.
 */
import type { PropertyValue } from '../../src/core/message.js';

export interface CaseMessage {
  readonly properties?: Readonly<Record<string, PropertyValue>>;
  readonly id?: string;
  readonly persistent?: boolean;
  readonly priority?: number;
  readonly timestamp?: number;
  readonly expiration?: number;
  readonly correlationId?: string;
  readonly type?: string;
  readonly groupId?: string;
  readonly groupSeq?: number;
}

export interface SelectorCase {
  readonly selector: string;
  readonly message?: CaseMessage;
  readonly deliveryCount?: number;
  readonly convertStringExpressions?: boolean;
  readonly expected: boolean;
}

/** The properties most cases read. `n` is present with a NULL value; `missing` is absent. */
export const standardProperties: Readonly<Record<string, PropertyValue>> = {
  s: 'abc',
  t: 'abd',
  e: '',
  i: 5,
  zero: 0,
  f: 2.5,
  l: 10n,
  b: true,
  bf: false,
  n: null,
  ns: '5',
  fs: '2.5',
};

const std: CaseMessage = { properties: standardProperties };

function props(properties: Record<string, PropertyValue>): CaseMessage {
  return { properties };
}

function c(selector: string, expected: boolean, message: CaseMessage = std): SelectorCase {
  return { selector, message, expected };
}

function converted(selector: string, expected: boolean, message: CaseMessage = std): SelectorCase {
  return { selector, message, expected, convertStringExpressions: true };
}

type Truth = 'T' | 'F' | 'U';

const truthSelector: Record<Truth, string> = { T: 'TRUE', F: 'FALSE', U: 'missing = 1' };

// SQL three-valued truth tables (JMS 3.8.1.2, tables 3-4 and 3-5).
const andTable: Record<`${Truth}${Truth}`, Truth> = {
  TT: 'T', TF: 'F', TU: 'U',
  FT: 'F', FF: 'F', FU: 'F',
  UT: 'U', UF: 'F', UU: 'U',
};
const orTable: Record<`${Truth}${Truth}`, Truth> = {
  TT: 'T', TF: 'T', TU: 'T',
  FT: 'T', FF: 'F', FU: 'U',
  UT: 'T', UF: 'U', UU: 'U',
};

/**
 * For each pair, `A op B` selects only when the table says T, and `NOT (A op B)` selects only when it
 * says F: the second case tells UNKNOWN apart from FALSE.
 */
function truthTable(op: 'AND' | 'OR', table: Record<`${Truth}${Truth}`, Truth>): SelectorCase[] {
  const cases: SelectorCase[] = [];
  for (const [pair, result] of Object.entries(table) as [`${Truth}${Truth}`, Truth][]) {
    const left = truthSelector[pair[0] as Truth];
    const right = truthSelector[pair[1] as Truth];
    cases.push(c(`${left} ${op} ${right}`, result === 'T'));
    cases.push(c(`NOT (${left} ${op} ${right})`, result === 'F'));
  }
  return cases;
}

export const selectorCases: readonly SelectorCase[] = [
  // Boolean literals; keywords are case-insensitive.
  c('TRUE', true),
  c('FALSE', false),
  c('true', true),
  c('TrUe AND NOT fAlSe', true),
  c('((TRUE))', true),

  // Exact numerics and equality.
  c('i = 5', true),
  c('i = 6', false),
  c('5 = i', true),
  c('i <> 6', true),
  c('i <> 5', false),
  c('i = 0x5', true),
  c('h = 0xFF', true, props({ h: 255 })),
  c('h = 0XfF', true, props({ h: 255 })),
  c('o = 010', true, props({ o: 8 })), // leading 0 is octal, as in Java
  c('o = 010', false, props({ o: 10 })),
  c('zero = 0', true),
  c('l = 10L', true),
  c('i = 5l', true),
  c('i = 5.0', true), // exact and approximate numerics compare by numeric promotion
  c('l = 10', true), // long property (bigint) against an int literal
  c('l = 10.0', true),
  c('l = 10.5', false),
  c('big = 9223372036854775807', true, props({ big: 9223372036854775807n })),
  c('big = 9223372036854775806', false, props({ big: 9223372036854775807n })), // longs compare exactly, not as doubles
  c('big > 9223372036854775806', true, props({ big: 9223372036854775807n })),
  c('neg = -9223372036854775808', true, props({ neg: -9223372036854775808n })),
  c('neg = -957', true, props({ neg: -957 })),
  c('pos = +62', true, props({ pos: 62 })),

  // Approximate numerics.
  c('f = 2.5', true),
  c('f = 25E-1', true),
  c('f = .25e1', true),
  c('f = 0.025E+2', true),
  c('k = 1e3', true, props({ k: 1000 })),
  c('k = 1.0E3', true, props({ k: 1000 })),
  c('k = 7E3', true, props({ k: 7000 })),
  c('i = 5.', true),
  c('x = .5', true, props({ x: 0.5 })),
  c('x = -57.9E2', true, props({ x: -5790 })),

  // Ordering: numbers only.
  c('i > 4', true),
  c('i > 5', false),
  c('i >= 5', true),
  c('i < 5', false),
  c('i <= 5', true),
  c('i < 6', true),
  c('5 < i', false),
  c('f > 2', true),
  c('l > 9', true),
  c('l < 10.5', true),
  c('l >= i', true),
  c('i < f', false),

  // Strings: = and <> only, case-sensitive, '' is a quote.
  c("s = 'abc'", true),
  c("'abc' = s", true),
  c("s = 'ABC'", false),
  c("s <> 'abc'", false),
  c("s <> 'x'", true),
  c("e = ''", true),
  c("q = 'it''s'", true, props({ q: "it's" })),
  c("q = 'its'", false, props({ q: "it's" })),
  c("q = ''''", true, props({ q: "'" })),
  c("s = t", false),
  c('s > t', false), // ordering of strings is not defined by JMS: FALSE
  c('NOT (s > t)', true), // ...and FALSE, not UNKNOWN, so NOT gives TRUE

  // Booleans: = and <> only.
  c('b = TRUE', true),
  c('b = FALSE', false),
  c('TRUE = b', true),
  c('b <> FALSE', true),
  c('bf = FALSE', true),
  c('b = bf', false),
  c('b > bf', false), // boolean ordering is not defined by JMS: FALSE

  // Unlike types (strict typing): the comparison is FALSE, not UNKNOWN.
  c('s = 5', false),
  c('NOT (s = 5)', true),
  c('s <> 5', false), // "the value of the operation is false" holds for <> too
  c('ns = 5', false), // '5' is a string; no conversion without convertStringExpressions
  c("i = '5'", false),
  c('b = 1', false),
  c('i = TRUE', false),
  c('s > 1', false),
  c('NOT (s > 1)', true),
  c('ns > 1', false),
  c('buf = 1', false, props({ buf: Buffer.from('1') })), // bytes are not a selector type
  c('buf IS NOT NULL', true, props({ buf: Buffer.from('1') })),

  // Arithmetic on a non-number has no value: UNKNOWN, which NOT keeps UNKNOWN.
  c('s + 1 > 0', false),
  c('NOT (s + 1 > 0)', false),
  c('b + 1 = 2', false),
  c('-s = 1', false),
  c('NOT (-s = 1)', false),

  // A bare identifier is a condition only when it holds a boolean.
  c('b', true),
  c('bf', false),
  c('NOT bf', true),
  c('(b)', true),
  c('i', false), // a number used as a condition is FALSE (as ActiveMQ reads it)...
  c('NOT i', true), // ...not UNKNOWN
  c('missing', false),
  c('NOT missing', false), // NULL as a condition is UNKNOWN
  c('sb', false, props({ sb: 'true' })), // a string is not a boolean under strict typing
  c('b AND i = 5', true),
  c('bf OR i = 5', true),

  // NULL: a missing property, or one present with a null value.
  c('missing = 1', false),
  c('NOT (missing = 1)', false),
  c('missing <> 1', false),
  c('NOT (missing <> 1)', false),
  c('missing > 1', false),
  c('NOT (missing > 1)', false),
  c("missing = 'abc'", false),
  c("NOT (missing = 'abc')", false),
  c('missing = TRUE', false),
  c('NOT (missing = FALSE)', false),
  c('missing = missing', false),
  c('missing + 1 = 1', false),
  c('NOT (missing + 1 = 1)', false),
  c('-missing = 0', false),
  c('NOT (i * missing > 0)', false),
  c('missing IS NULL', true),
  c('missing IS NOT NULL', false),
  c('NOT (missing IS NULL)', false),
  c('i IS NULL', false),
  c('i IS NOT NULL', true),
  c('e IS NOT NULL', true), // the empty string is a value
  c('n IS NULL', true),
  c('n = 1', false),
  c('NOT (n = 1)', false),
  c('missing IS NULL AND other IS NULL', true),
  c('missing is not null OR i is not null', true),
  c("missing LIKE 'a%'", false),
  c("missing NOT LIKE 'a%'", false), // JMS: LIKE / NOT LIKE on NULL is UNKNOWN
  c("missing IN ('a', 'b')", false),
  c("missing NOT IN ('a', 'b')", false), // JMS: IN / NOT IN on NULL is UNKNOWN
  c('missing BETWEEN 1 AND 2', false),
  c('missing NOT BETWEEN 1 AND 2', false),
  c('i BETWEEN missing AND 10', false), // i >= NULL AND i <= 10: UNKNOWN AND TRUE = UNKNOWN
  c('NOT (i BETWEEN missing AND 10)', false),
  c('i BETWEEN missing AND 3', false), // UNKNOWN AND FALSE = FALSE...
  c('NOT (i BETWEEN missing AND 3)', true), // ...so NOT gives TRUE
  c('i NOT BETWEEN missing AND 10', false), // i < NULL OR i > 10: UNKNOWN OR FALSE = UNKNOWN
  c('i NOT BETWEEN missing AND 3', true), // UNKNOWN OR TRUE = TRUE

  // NOT, AND, OR with UNKNOWN.
  c('NOT TRUE', false),
  c('NOT FALSE', true),
  c('NOT (missing = 1)', false),
  c('NOT NOT (missing = 1)', false),
  c('NOT NOT TRUE', true),
  ...truthTable('AND', andTable),
  ...truthTable('OR', orTable),
  c('b AND missing', false),
  c('NOT (bf AND missing)', true), // FALSE AND UNKNOWN = FALSE
  c('NOT (b OR missing)', false), // TRUE OR UNKNOWN = TRUE

  // Logical precedence: NOT, then AND, then OR.
  c('TRUE OR TRUE AND FALSE', true),
  c('(TRUE OR TRUE) AND FALSE', false),
  c('NOT TRUE OR TRUE', true),
  c('NOT (TRUE OR TRUE)', false),
  c('NOT i = 5', false), // NOT (i = 5)
  c('FALSE AND missing = 1 OR TRUE', true),
  c('i = 5 AND s = \'abc\' OR missing = 1', true),

  // LIKE: _ is one character, % any run, case-sensitive, whole string.
  c("s LIKE 'abc'", true),
  c("s LIKE 'ab'", false),
  c("s LIKE 'a%'", true),
  c("s LIKE '%c'", true),
  c("s LIKE '%b%'", true),
  c("s LIKE 'a%c'", true),
  c("s LIKE 'a_c'", true),
  c("s LIKE '_b_'", true),
  c("s LIKE '__'", false),
  c("s LIKE '____'", false),
  c("s LIKE '%'", true),
  c("e LIKE '%'", true),
  c("e LIKE '_'", false),
  c("s LIKE 'A%'", false),
  c("s like 'a%'", true),
  c("phone LIKE '12%3'", true, props({ phone: '123' })), // the spec's own examples
  c("phone LIKE '12%3'", true, props({ phone: '12993' })),
  c("phone LIKE '12%3'", false, props({ phone: '1234' })),
  c("word LIKE 'l_se'", true, props({ word: 'lose' })),
  c("word LIKE 'l_se'", false, props({ word: 'loose' })),
  c("s NOT LIKE 'a%'", false),
  c("s NOT LIKE 'x%'", true),
  c("s not like 'x%'", true),
  c("multi LIKE 'line1%line2'", true, props({ multi: 'line1\nline2' })), // % spans newlines
  c("multi LIKE 'line1_line2'", true, props({ multi: 'line1\nline2' })),
  c("u LIKE '_'", true, props({ u: '\u{1F600}' })), // _ is one character, even outside the BMP
  c("i LIKE '5'", false), // LIKE compares strings: a number is an unlike type, FALSE...
  c("i NOT LIKE '5'", true), // ...so NOT LIKE is TRUE

  // LIKE with ESCAPE.
  c("underscored LIKE '\\_%' ESCAPE '\\'", true, props({ underscored: '_foo' })),
  c("underscored LIKE '\\_%' ESCAPE '\\'", false, props({ underscored: 'bar' })),
  c("pct LIKE '100\\%' ESCAPE '\\'", true, props({ pct: '100%' })),
  c("pct LIKE '100\\%' ESCAPE '\\'", false, props({ pct: '1000' })),
  c("pct LIKE '100!%' ESCAPE '!'", true, props({ pct: '100%' })),
  c("pct LIKE '%!%' escape '!'", true, props({ pct: '50%' })),
  c("path LIKE 'a\\\\b' ESCAPE '\\'", true, props({ path: 'a\\b' })), // escape before itself is one literal escape
  c("path LIKE 'a\\bc' ESCAPE '\\'", true, props({ path: 'a\\bc' })), // before an ordinary character it is itself (ActiveMQ)
  c("quote LIKE 'it''s%'", true, props({ quote: "it's here" })),

  // LIKE: regex metacharacters in the pattern are literals.
  c("dot LIKE 'a.c'", false, props({ dot: 'abc' })),
  c("dot LIKE 'a.c'", true, props({ dot: 'a.c' })),
  c("star LIKE 'a*'", false, props({ star: 'aaa' })),
  c("star LIKE 'a*'", true, props({ star: 'a*' })),
  c("paren LIKE '(x)%'", true, props({ paren: '(x) y' })),
  c("br LIKE '[a]'", true, props({ br: '[a]' })),
  c("br LIKE '[a]'", false, props({ br: 'a' })),
  c("caret LIKE '^a$'", true, props({ caret: '^a$' })),
  c("plus LIKE 'a+b'", false, props({ plus: 'aab' })),
  c("qm LIKE 'a?'", false, props({ qm: 'a' })),
  c("bs LIKE 'a\\d'", true, props({ bs: 'a\\d' })),
  c("pipe LIKE 'a|b'", false, props({ pipe: 'a' })),
  c("brace LIKE 'a{2}'", true, props({ brace: 'a{2}' })),

  // LIKE: empty segments, anchoring, leftmost matching of the parts between %.
  c("e LIKE ''", true),
  c("s LIKE ''", false),
  c("e LIKE '%%'", true),
  c("s LIKE '%%%'", true),
  c("s LIKE 'a%%c'", true),
  c("s LIKE 'a%%%b'", false),
  c("s LIKE '%a%b%c%'", true),
  c("s LIKE '%c%b%'", false), // the segments match in order
  c("s LIKE 'abc%'", true), // % matches the empty string at the end...
  c("s LIKE '%abc'", true), // ...and at the start
  c("s LIKE 'ab%bc'", false), // first and last segment may not overlap
  c("rep LIKE 'ab%ab'", true, props({ rep: 'abab' })),
  c("rep LIKE 'ab%ab'", false, props({ rep: 'aba' })),
  c("rep LIKE '%aab'", true, props({ rep: 'aaaab' })), // the last segment is anchored at the end
  c("rep LIKE '%aa%aa%'", true, props({ rep: 'aaaa' })),
  c("rep LIKE '%aa%aa%'", false, props({ rep: 'aaa' })), // two segments never share a character
  c("rep LIKE '%a_b%'", true, props({ rep: 'aaxaab' })), // leftmost 'a_' fails at 'aax', the next place matches
  c("rep LIKE '%a%a%a%a%a%b'", false, props({ rep: 'a'.repeat(100) })),
  c("rep LIKE '%a%a%a%a%a%b'", true, props({ rep: `${'a'.repeat(100)}b` })),
  c("s LIKE '___'", true),
  c("s LIKE '_%_'", true),
  c("s LIKE '%___%'", true),
  c("s LIKE '%____%'", false),
  c("s LIKE '%_'", true),
  c("e LIKE '%_%'", false),

  // LIKE: escapes inside segments and next to %.
  c("pct LIKE '%\\%%' ESCAPE '\\'", true, props({ pct: 'up 5% today' })),
  c("pct LIKE '%\\%%' ESCAPE '\\'", false, props({ pct: 'up 5 today' })),
  c("pct LIKE '%\\_\\%' ESCAPE '\\'", true, props({ pct: 'a_%' })),
  c("pct LIKE '%\\_\\%' ESCAPE '\\'", false, props({ pct: 'ab%' })),
  c("pct LIKE '\\' ESCAPE '\\'", true, props({ pct: '\\' })), // an escape at the end stands for itself
  c("pct LIKE 'x%%' ESCAPE '%'", true, props({ pct: 'x%' })), // % as the escape: %% is one literal %...
  c("pct LIKE 'x%%' ESCAPE '%'", false, props({ pct: 'xy' })),
  c("pct LIKE 'x%y' ESCAPE '%'", true, props({ pct: 'x%y' })), // ...and % before anything else is itself
  c("pct LIKE 'a__' ESCAPE '_'", true, props({ pct: 'a_' })), // _ as the escape: __ is one literal _
  c("pct LIKE 'a__' ESCAPE '_'", false, props({ pct: 'ab' })),
  c("pct LIKE '%!_' ESCAPE '!'", true, props({ pct: 'snake_' })),
  c("pct LIKE '%!_' ESCAPE '!'", false, props({ pct: 'snakes' })),

  // LIKE: unicode. _ is one code point; a match never splits a surrogate pair.
  c("u LIKE '_'", false, props({ u: 'é\u{1F600}' })),
  c("u LIKE '__'", true, props({ u: 'é\u{1F600}' })),
  c("u LIKE '%\u{1F600}%'", true, props({ u: 'x\u{1F600}y' })),
  c("u LIKE '\u{1F600}_\u{1F600}'", true, props({ u: '\u{1F600}\u{1F601}\u{1F600}' })),
  c("u LIKE '%_\u{1F600}'", true, props({ u: '\u{1F601}\u{1F600}' })),
  c("u LIKE '_%'", true, props({ u: '\u{1F600}' })),
  c("u LIKE '__%'", false, props({ u: '\u{1F600}' })),
  c("u LIKE 'gr_n'", true, props({ u: 'grün' })),
  c("u LIKE 'GRÜN'", false, props({ u: 'grün' })), // case-sensitive beyond ASCII too
  c("u LIKE '%\uDE00%'", false, props({ u: '\u{1F600}' })), // half a pair is not a character of the string
  c("u LIKE '\uD83D%'", false, props({ u: '\u{1F600}' })),
  c("u LIKE '%\uDE00'", true, props({ u: 'a\uDE00' })), // a lone surrogate is a character of its own

  // IN and NOT IN.
  c("country IN ('UK', 'US', 'France')", true, props({ country: 'UK' })), // the spec's own examples
  c("country IN ('UK', 'US', 'France')", false, props({ country: 'Peru' })),
  c("country NOT IN ('UK', 'US', 'France')", true, props({ country: 'Japan' })),
  c("country NOT IN ('UK', 'US', 'France')", false, props({ country: 'UK' })),
  c("country IN ('UK')", false, props({ country: 'uk' })),
  c("country in ('a', 'b', 'c', 'd', 'e', 'f', 'UK')", true, props({ country: 'UK' })),
  c("country IN ('it''s')", true, props({ country: "it's" })),
  c('i IN (1, 5, 9)', true), // numbers in the list: an extension (JMS lists strings only)
  c('i IN (1, 2)', false),
  c('f IN (2.5)', true),
  c('l IN (10)', true),
  c('neg IN (-3, 4)', true, props({ neg: -3 })),
  c("i IN ('5')", false), // IN is a chain of = joined by OR; each = of unlike types is FALSE...
  c("i NOT IN ('5')", true), // ...and NOT IN is its negation, TRUE
  c("(s IN ('abc')) AND i = 5", true),

  // BETWEEN and NOT BETWEEN.
  c('age BETWEEN 15 AND 19', true, props({ age: 17 })),
  c('age BETWEEN 15 AND 19', true, props({ age: 15 })),
  c('age BETWEEN 15 AND 19', true, props({ age: 19 })),
  c('age BETWEEN 15 AND 19', false, props({ age: 20 })),
  c('age BETWEEN 15 AND 19', false, props({ age: 14 })),
  c('age NOT BETWEEN 15 AND 19', false, props({ age: 17 })),
  c('age NOT BETWEEN 15 AND 19', true, props({ age: 20 })),
  c('age NOT BETWEEN 15 AND 19', true, props({ age: 14 })),
  c('f BETWEEN 2 AND 3', true),
  c('l BETWEEN 5 AND 10', true),
  c('i BETWEEN 1 + 1 AND 2 * 3', true),
  c('i BETWEEN 6 AND 1', false),
  c('i between 1 and 10 and b', true),
  c('i not between 6 and 9', true),
  c('s BETWEEN 1 AND 2', false), // s >= 1 AND s <= 2, both FALSE (unlike types)
  c('s NOT BETWEEN 1 AND 2', false), // JMS: s < 1 OR s > 2, both FALSE (unlike types)

  // Arithmetic and its precedence.
  c('1 + 2 * 3 = 7', true),
  c('(1 + 2) * 3 = 9', true),
  c('10 - 2 - 3 = 5', true), // left to right within a level
  c('12 / 2 / 3 = 2', true),
  c('2 * 3 + 4 * 5 = 26', true),
  c('-i = -5', true),
  c('- -i = 5', true),
  c('+i = 5', true),
  c('-i * 2 = -10', true),
  c('i * 2 > 9', true),
  c('i - 10 < 0', true),
  c('7 / 2 = 3.5', true), // division is floating point, as ActiveMQ does it
  c('i / zero > 1000000', true), // x / 0 is Infinity (Java double arithmetic)
  c('zero / zero = zero / zero', false), // 0 / 0 is NaN, equal to nothing...
  c('NOT (zero / zero = 0)', true), // ...and the comparison is FALSE, not UNKNOWN
  c('l * l = 100', true),
  c('big + 1 > big', true, props({ big: 9223372036854775807n })), // long arithmetic stays exact
  c('l + f = 12.5', true),
  // '%', ActiveMQ's remainder: the precedence of * and /, the sign of the dividend, as in Java
  c('i % 2 = 1', true),
  c('l % 3 = 1', true), // long % long stays a long
  c('-i % 3 = -2', true),
  c('1 + i % 3 * 2 = 5', true),
  c('f % 2 = 0.5', true),
  c('l % (l - l) = 0', false), // a long's remainder by a long zero is UNKNOWN...
  c('NOT (l % (l - l) = 0)', false), // ...not FALSE
  c('i % zero = i % zero', false), // a double's is NaN
  c('1 + 2 = 3 AND 2 * 2 = 4', true),
  c('i + 1 > 5 = TRUE', true), // (i + 1 > 5) = TRUE: ordering binds tighter than =

  // Header fields.
  c("JMSDeliveryMode = 'PERSISTENT'", true, { persistent: true }),
  c("JMSDeliveryMode = 'NON_PERSISTENT'", true, { persistent: false }),
  c("JMSDeliveryMode = 'PERSISTENT'", false, { persistent: false }),
  c('JMSPriority = 4', true, {}),
  c('JMSPriority > 5', true, { priority: 9 }),
  c('JMSPriority BETWEEN 0 AND 3', false, {}),
  c('JMSPriority = 4', true, { properties: { JMSPriority: 9 } }), // the header, not a property of that name
  c('jmspriority = 4', false, {}), // identifiers are case-sensitive: a user property, missing
  c("JMSMessageID = 'ID:abc'", true, { id: 'ID:abc' }),
  c('JMSTimestamp = 1000', true, { timestamp: 1000 }),
  c('JMSTimestamp > 0', true, { timestamp: 1000 }),
  c("JMSCorrelationID = 'c1'", true, { correlationId: 'c1' }),
  c('JMSCorrelationID IS NULL', true, {}),
  c("JMSType = 'order'", true, { type: 'order' }),
  c('JMSType IS NULL', true, {}),
  c('JMSExpiration = 0', true, {}),
  c('JMSExpiration > 0', true, { expiration: 5000 }),
  c("JMSXGroupID = 'g'", true, { groupId: 'g' }),
  c('JMSXGroupID IS NULL', true, {}),
  c('JMSXGroupSeq = 3', true, { groupId: 'g', groupSeq: 3 }),
  c('JMSXDeliveryCount = 1', true, {}),
  { selector: 'JMSXDeliveryCount > 2', message: {}, deliveryCount: 3, expected: true },
  { selector: 'JMSRedelivered = TRUE', message: {}, deliveryCount: 2, expected: true },
  { selector: 'JMSRedelivered', message: {}, deliveryCount: 2, expected: true },
  c('JMSRedelivered = FALSE', true, {}),
  c('NOT JMSRedelivered', true, {}),
  // not a JMS header a selector may name, but ActiveMQ's selectors compare it as a string
  c("JMSDestination = 'queue://selector.test'", true, {}),
  c("JMSDestination LIKE 'queue://selector.%'", true, {}),
  c("JMSDestination = 'topic://selector.test'", false, {}),

  // Identifiers: Java identifier characters.
  c('$x = 1', true, props({ $x: 1 })),
  c('_y_ = 2', true, props({ _y_: 2 })),
  c('größe = 4', true, props({ größe: 4 })),
  c('a1 = 1', true, props({ a1: 1 })),
  c('I = 5', false), // case-sensitive: I is not i

  // Whitespace and layout.
  c('  i=5  ', true),
  c("i = 5\nAND\ts = 'abc'", true),
  c("s='abc'AND i=5", true),
  c('i=5AND b', true), // a number ends where a letter begins, as a Java tokenizer reads it

  // convertStringExpressions: a string meeting a number is read as a number if it is one.
  converted('ns = 5', true),
  converted('ns > 4', true),
  converted('ns < 4', false),
  converted('ns <> 5', false),
  converted('ns <> 6', true),
  converted('ns BETWEEN 1 AND 9', true),
  converted('ns NOT BETWEEN 1 AND 9', false),
  converted('ns IN (5, 6)', true),
  converted("ns = '5'", true),
  converted('ns = 5.0', true),
  converted('ns + 1 = 6', true),
  converted('ns * 2 = 10', true),
  converted('-ns = -5', true),
  converted('fs = 2.5', true),
  converted('fs > 2', true),
  converted("JMSPriority = '4'", true, {}),
  converted('s = 5', false), // 'abc' is no number: unlike types, FALSE...
  converted('NOT (s = 5)', true), // ...not UNKNOWN
  converted('s > 1', false),
  converted('s + 1 = 1', false),
  converted('NOT (s + 1 = 1)', false), // arithmetic on a non-number is UNKNOWN
  converted('sp = 5', false, props({ sp: ' 5' })), // no trimming
  converted('hx = 16', false, props({ hx: '0x10' })), // decimal only
  converted('bigs = 9223372036854775807', true, props({ bigs: '9223372036854775807' })),
  converted('a > b', false, props({ a: '10', b: '9' })), // two strings: nothing to convert to, and strings do not order
  converted('flag = TRUE', true, props({ flag: 'true' })),
  converted('flag = TRUE', true, props({ flag: 'TRUE' })),
  converted('flag = TRUE', false, props({ flag: 'yes' })),
  converted('flag', true, props({ flag: 'true' })),
  converted('flag', false, props({ flag: 'false' })),
  converted('missing = 5', false),
  converted('NOT (missing = 5)', false),
  { selector: 'ns = 5', message: std, expected: false, convertStringExpressions: false },
  { selector: "JMSPriority = '4'", message: {}, expected: false },
];

/** Selectors that must be refused with FERRY_SELECTOR_INVALID, whose message names a column. */
export const invalidSelectors: readonly string[] = [
  'price > AND x',
  'i =',
  '(i = 5',
  'i = 5)',
  "s = 'abc",
  'i == 5',
  'i != 5',
  "s LIKE 'a%' ESCAPE 'ab'",
  "s LIKE 'a%' ESCAPE ''",
  'i LIKE 5',
  "s LIKE 'a%' ESCAPE 5",
  'i IN ()',
  'i IN (x)',
  "i IN 'a'",
  "i IN ('a' 'b')",
  'i BETWEEN 1 5',
  'i IS 5',
  'i IS NOT',
  'i = NULL',
  'NULL',
  '1 + 2',
  "'abc'",
  '5',
  '-i',
  "i > 'abc'",
  'i + TRUE = 1',
  "'a' = 1",
  'TRUE = 1',
  'TRUE > FALSE',
  'i = 09',
  'i = 1e',
  'i = 0x',
  'i = 1e400',
  'i # 5',
  'AND = 1',
  'i = 5 AND',
  'NOT',
  'i NOT 5',
  'a b',
  "i LIKE 'a' AND 5",
  's = "abc"',
  "1 LIKE 'a'",
  "(i > 1) IN ('a')",
  'x.y = 1',
  "i BETWEEN 'a' AND 'b'",
  "-'a' = 1",
  'i = 5 OR',
  '()',
  'i = (1 + )',
  "i LIKE 'a' ESCAPE",
];
