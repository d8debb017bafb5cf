import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeFrame, escapeHeader, StompParser } from '../../src/protocols/stomp/codec.js';
import type { StompFrame, StompParserLimits, StompVersion } from '../../src/protocols/stomp/codec.js';
import type { ErrorCode, FerryError } from '../../src/errors.js';

const LIMITS: StompParserLimits = { maxFrameSize: 1024 * 1024, maxHeaderSize: 8192, maxHeaders: 100 };

const COMMANDS = [
  'CONNECT', 'STOMP', 'SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT', 'DISCONNECT',
  'CONNECTED', 'MESSAGE', 'RECEIPT', 'ERROR',
] as const;
const RAW_COMMANDS = new Set(['CONNECT', 'STOMP', 'CONNECTED']);

interface Parsed {
  frames: StompFrame[];
  errors: FerryError[];
  parser: StompParser;
}

function parse(chunks: Buffer | Buffer[], version: StompVersion = '1.2', limits: StompParserLimits = LIMITS): Parsed {
  const frames: StompFrame[] = [];
  const errors: FerryError[] = [];
  const parser = new StompParser(limits, (f) => frames.push(f), (e) => errors.push(e));
  parser.version = version;
  for (const chunk of Array.isArray(chunks) ? chunks : [chunks]) parser.push(chunk);
  return { frames, errors, parser };
}

function parseOne(input: string | Buffer, version: StompVersion = '1.2'): StompFrame {
  const { frames, errors } = parse(typeof input === 'string' ? Buffer.from(input, 'utf8') : input, version);
  assert.deepEqual(errors, []);
  assert.equal(frames.length, 1);
  return frames[0] as StompFrame;
}

function parseError(input: string | Buffer | Buffer[], version: StompVersion = '1.2', limits = LIMITS): FerryError {
  const chunks = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const { frames, errors } = parse(chunks, version, limits);
  assert.equal(errors.length, 1, `expected one error, got ${errors.length} and ${frames.length} frames`);
  return errors[0] as FerryError;
}

/** A frame in a form that deepEqual compares by content. */
function plain(f: StompFrame): { command: string; headers: [string, string][]; body: string } {
  return { command: f.command, headers: [...f.headers], body: f.body.toString('hex') };
}

function expectCode(err: FerryError, code: ErrorCode): void {
  assert.equal(err.code, code, `${err.code}: ${err.message}`);
}

describe('StompParser: frames', () => {
  it('parses every command', () => {
    for (const command of COMMANDS) {
      const f = parseOne(`${command}\nfoo:bar\n\nhello\0`);
      assert.equal(f.command, command);
      assert.equal(f.headers.get('foo'), 'bar');
      assert.equal(f.body.toString(), 'hello');
    }
  });

  it('decodes UTF-8 header names and values, splitting at the first colon', () => {
    const f = parseOne('SEND\ndestination:/queue/ünï\nurl:http://x:80/a\nsp: lead and trail \n\n\0', '1.2');
    assert.equal(f.headers.get('destination'), '/queue/ünï');
    assert.equal(f.headers.get('url'), 'http://x:80/a');
    assert.equal(f.headers.get('sp'), ' lead and trail ');
  });

  it('STOMP 1.0 drops the spaces and tabs around names and values, but not those of a CONNECT, whose version is not known yet', () => {
    const f = parseOne('SEND\ndestination : /queue/a\nsp:\t lead and trail \nurl: http://x:80/a\n\n\0', '1.0');
    assert.deepEqual([...f.headers], [['destination', '/queue/a'], ['sp', 'lead and trail'], ['url', 'http://x:80/a']]);
    const connect = parseOne('CONNECT\nlogin: admin \n\n\0', '1.0');
    assert.equal(connect.headers.get('login'), ' admin ');
  });

  it('keeps the first of repeated headers', () => {
    const f = parseOne('MESSAGE\nfoo:World\nfoo:Hello\nbar:1\n\n\0');
    assert.deepEqual([...f.headers], [['foo', 'World'], ['bar', '1']]);
  });

  it('keeps the first content-length when it is repeated', () => {
    const f = parseOne('SEND\ncontent-length:3\ncontent-length:1\n\na\0b\0');
    assert.deepEqual([...f.body], [0x61, 0, 0x62]);
  });

  it('reads a content-length body containing NUL bytes', () => {
    const body = Buffer.from([0, 1, 0, 2, 0]);
    const f = parseOne(Buffer.concat([Buffer.from('SEND\ncontent-length:5\n\n'), body, Buffer.from([0])]));
    assert.deepEqual(f.body, body);
  });

  it('reads a body up to the first NUL without content-length', () => {
    const { frames } = parse(Buffer.from('SEND\n\nabc\0SEND\n\ndef\0'));
    assert.deepEqual(frames.map((f) => f.body.toString()), ['abc', 'def']);
  });

  it('reads empty bodies, with and without content-length:0', () => {
    assert.equal(parseOne('DISCONNECT\nreceipt:1\n\n\0').body.length, 0);
    assert.equal(parseOne('SEND\ncontent-length:0\n\n\0').body.length, 0);
    assert.equal(parseOne('COMMIT\n\n\0').headers.size, 0);
  });

  it('accepts CRLF and LF line ends in every version and skips heart-beat EOLs between frames', () => {
    for (const version of ['1.0', '1.1', '1.2'] as const) {
      const { frames, errors, parser } = parse(
        Buffer.from('\n\r\n\nSEND\r\na:1\r\nb:2\n\r\nx\0\r\n\n\r\nACK\nid:7\n\n\0\n\n'), version);
      assert.deepEqual(errors, []);
      assert.deepEqual(frames.map(plain), [
        { command: 'SEND', headers: [['a', '1'], ['b', '2']], body: Buffer.from('x').toString('hex') },
        { command: 'ACK', headers: [['id', '7']], body: '' },
      ]);
      assert.equal(parser.idle, true);
    }
  });

  it('parses many frames in one chunk', () => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 1000; i++) {
      frames.push(encodeFrame('SEND', [['destination', `/queue/q${i}`]], Buffer.from(`body ${i}`), '1.2'));
      if (i % 3 === 0) frames.push(Buffer.from('\n'));
    }
    const { frames: parsed, errors, parser } = parse(Buffer.concat(frames));
    assert.deepEqual(errors, []);
    assert.equal(parsed.length, 1000);
    parsed.forEach((f, i) => {
      assert.equal(f.headers.get('destination'), `/queue/q${i}`);
      assert.equal(f.body.toString(), `body ${i}`);
    });
    assert.equal(parser.idle, true);
  });

  it('reports idle only between frames', () => {
    const { parser } = parse([]);
    assert.equal(parser.idle, true);
    parser.push(Buffer.from('SE'));
    assert.equal(parser.idle, false);
    parser.push(Buffer.from('ND\n\nabc'));
    assert.equal(parser.idle, false);
    parser.push(Buffer.from('\0'));
    assert.equal(parser.idle, true);
    parser.push(Buffer.from('\n\n'));
    assert.equal(parser.idle, true);
    parser.push(Buffer.from('SEND\ncontent-length:1\n\nx'));
    assert.equal(parser.idle, false);
    parser.push(Buffer.from('\0'));
    assert.equal(parser.idle, true);
  });

  it('applies a version set from onFrame to the next frame in the same chunk', () => {
    const frames: StompFrame[] = [];
    const parser = new StompParser(LIMITS, (f) => {
      frames.push(f);
      if (f.command === 'CONNECT') parser.version = '1.2';
    }, (e) => assert.fail(e));
    parser.push(Buffer.from('CONNECT\naccept-version:1.2\nlogin:a\\b\n\n\0SEND\nx:a\\cb\n\n\0'));
    assert.equal(frames[0]?.headers.get('login'), 'a\\b');
    assert.equal(frames[1]?.headers.get('x'), 'a:b');
  });
});

describe('StompParser: zero copy', () => {
  it('gives a body that is a view of the chunk when the frame lies within it', () => {
    const chunk = Buffer.from('SEND\n\nfirst\0SEND\ncontent-length:6\n\nsec\0nd\0');
    const { frames } = parse(chunk);
    assert.equal(frames.length, 2);
    for (const f of frames) assert.equal(f.body.buffer, chunk.buffer);
    const [a, b] = frames as [StompFrame, StompFrame];
    assert.equal(a.body.byteOffset, chunk.byteOffset + chunk.indexOf('first'));
    assert.equal(b.body.byteOffset, chunk.byteOffset + chunk.indexOf('sec'));
    chunk[chunk.indexOf('first')] = 0x46;
    assert.equal(a.body.toString(), 'First');
  });

  it('copies a body that spans chunks into one buffer', () => {
    const c1 = Buffer.from('SEND\n\nab');
    const c2 = Buffer.from('cd\0');
    const { frames } = parse([c1, c2]);
    assert.equal(frames[0]?.body.toString(), 'abcd');
    // Small Buffer.from() results share one pool, so check independence by writing, not by identity.
    c1.fill(0x2e);
    c2.fill(0x2e);
    assert.equal(frames[0]?.body.toString(), 'abcd');
  });
});

describe('escaping', () => {
  const nasty = 'a:b\nc\\d\re';

  it('escapes per version', () => {
    assert.equal(escapeHeader(nasty, '1.0'), nasty);
    assert.equal(escapeHeader(nasty, '1.1'), 'a\\cb\\nc\\\\d\re');
    assert.equal(escapeHeader(nasty, '1.2'), 'a\\cb\\nc\\\\d\\re');
    const plainValue = '/queue/orders.eu';
    assert.equal(escapeHeader(plainValue, '1.2'), plainValue);
  });

  it('encodes frames with escapes per version, but never for CONNECT, STOMP and CONNECTED', () => {
    assert.equal(encodeFrame('SEND', [['k:1', nasty]], undefined, '1.2').toString(), 'SEND\nk\\c1:a\\cb\\nc\\\\d\\re\n\n\0');
    assert.equal(encodeFrame('SEND', [['k', nasty]], undefined, '1.1').toString(), 'SEND\nk:a\\cb\\nc\\\\d\re\n\n\0');
    assert.equal(encodeFrame('SEND', [['k', 'a:b\\c']], undefined, '1.0').toString(), 'SEND\nk:a:b\\c\n\n\0');
    for (const command of ['CONNECT', 'STOMP', 'CONNECTED']) {
      assert.equal(encodeFrame(command, [['k', 'a:b\\c']], undefined, '1.2').toString(), `${command}\nk:a:b\\c\n\n\0`);
    }
  });

  it('unescapes per version, but never CONNECT or STOMP frames', () => {
    const wire = 'SEND\nk\\c1:a\\cb\\nc\\\\d\n\n\0';
    assert.equal(parseOne(wire, '1.2').headers.get('k:1'), 'a:b\nc\\d');
    assert.equal(parseOne(wire, '1.1').headers.get('k:1'), 'a:b\nc\\d');
    assert.equal(parseOne(wire, '1.0').headers.get('k\\c1'), 'a\\cb\\nc\\\\d');
    assert.equal(parseOne('SEND\nk:a\\rb\n\n\0', '1.2').headers.get('k'), 'a\rb');
    for (const command of ['CONNECT', 'STOMP']) {
      assert.equal(parseOne(`${command}\npasscode:x\\ty\\\n\n\0`, '1.2').headers.get('passcode'), 'x\\ty\\');
    }
  });

  it('round-trips values with : LF \\ and CR through encodeFrame and the parser in every version', () => {
    const values = ['a:b', 'line1\nline2', 'back\\slash', 'c\rr', '\\n', '\\c:\\', ':', '', 'ünï:cødé\n'];
    for (const version of ['1.1', '1.2'] as const) {
      for (const value of values) {
        // 1.1 has no escape for CR and a CR before LF is part of the EOL, so only 1.2 carries CR.
        if (version === '1.1' && value.includes('\r')) continue;
        const frame = parseOne(encodeFrame('SEND', [[`n${value}`, value]], undefined, version), version);
        assert.equal(frame.headers.get(`n${value}`), value, `${version} ${JSON.stringify(value)}`);
      }
    }
    // 1.0 has no escapes: only values without LF (and names without ':') survive, unchanged.
    for (const value of ['a:b', 'back\\slash', 'c\rr', '\\n']) {
      const frame = parseOne(encodeFrame('SEND', [['n', value]], undefined, '1.0'), '1.0');
      assert.equal(frame.headers.get('n'), value);
    }
  });
});

describe('encodeFrame', () => {
  it('adds content-length only for a body with a NUL, when none is given: a body without one stays text', () => {
    assert.equal(encodeFrame('SEND', [['destination', '/queue/a']], Buffer.from('text'), '1.2').toString(), 'SEND\ndestination:/queue/a\n\ntext\0');
    const body = Buffer.from([1, 0, 2]);
    assert.deepEqual(encodeFrame('SEND', [['destination', '/queue/a']], body, '1.2'),
      Buffer.concat([Buffer.from('SEND\ndestination:/queue/a\ncontent-length:3\n\n'), body, Buffer.from([0])]));
    assert.equal(encodeFrame('SEND', [['content-length', '3']], body, '1.2').toString('latin1'),
      'SEND\ncontent-length:3\n\n\x01\x00\x02\x00');
    assert.equal(encodeFrame('RECEIPT', [['receipt-id', '9']], undefined, '1.2').toString(), 'RECEIPT\nreceipt-id:9\n\n\0');
    assert.equal(encodeFrame('SEND', [], Buffer.alloc(0), '1.2').toString(), 'SEND\n\n\0');
  });

  it('takes a Map as headers and writes UTF-8', () => {
    const out = encodeFrame('MESSAGE', new Map([['subscription', '0'], ['x', 'ü€😀']]), Buffer.from('hi'), '1.2');
    assert.equal(out.toString(), 'MESSAGE\nsubscription:0\nx:ü€😀\n\nhi\0');
  });
});

describe('StompParser: errors', () => {
  it('rejects an unknown command, naming it printably and briefly', () => {
    const err = parseError('FOO\n\n\0');
    expectCode(err, 'FERRY_STOMP_BAD_FRAME');
    assert.equal(err.message, 'unknown command "FOO"');
    expectCode(parseError('send\n\n\0'), 'FERRY_STOMP_BAD_FRAME');
    expectCode(parseError('SEND \n\n\0'), 'FERRY_STOMP_BAD_FRAME');
    const junk = parseError(Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), Buffer.alloc(100, 0x41), Buffer.from('\n')]));
    expectCode(junk, 'FERRY_STOMP_BAD_FRAME');
    assert.match(junk.message, /^unknown command "\\x16\\x03\\x01A{37}\.\.\."$/);
  });

  it('rejects a header line without a colon, and one with an empty name', () => {
    const err = parseError('SEND\nabc\n\n\0');
    expectCode(err, 'FERRY_STOMP_BAD_FRAME');
    assert.equal(err.message, 'header line without a colon: "abc"');
    expectCode(parseError('SEND\n:abc\n\n\0'), 'FERRY_STOMP_BAD_FRAME');
  });

  it('rejects escapes the version does not define', () => {
    expectCode(parseError('SEND\nk:a\\tb\n\n\0', '1.1'), 'FERRY_STOMP_BAD_FRAME');
    expectCode(parseError('SEND\nk:a\\tb\n\n\0', '1.2'), 'FERRY_STOMP_BAD_FRAME');
    expectCode(parseError('SEND\nk:a\\rb\n\n\0', '1.1'), 'FERRY_STOMP_BAD_FRAME');
    expectCode(parseError('SEND\nk:ab\\\n\n\0', '1.2'), 'FERRY_STOMP_BAD_FRAME');
    expectCode(parseError('SEND\nk\\x:ab\n\n\0', '1.2'), 'FERRY_STOMP_BAD_FRAME');
    assert.match(parseError('SEND\nk:a\\tb\n\n\0', '1.1').message, /bad escape "\\\\t"/);
    // 1.0 has no escapes: the same bytes are a plain value.
    assert.equal(parseOne('SEND\nk:a\\tb\n\n\0', '1.0').headers.get('k'), 'a\\tb');
  });

  it('rejects a content-length that is not a non-negative decimal integer', () => {
    for (const cl of ['x', '', '-1', '1.5', ' 3', '3 ', '0x10', '+3']) {
      const err = parseError(`SEND\ncontent-length:${cl}\n\nabc\0`);
      expectCode(err, 'FERRY_STOMP_BAD_FRAME');
    }
    assert.equal(parseError('SEND\ncontent-length:x\n\n\0').message, 'content-length "x" is not a number');
  });

  it('rejects a content-length body not followed by NUL', () => {
    expectCode(parseError('SEND\ncontent-length:2\n\nabc\0'), 'FERRY_STOMP_BAD_FRAME');
    expectCode(parseError(['SEND\ncontent-length:2\n\nab', 'X\0'].map((s) => Buffer.from(s))), 'FERRY_STOMP_BAD_FRAME');
  });

  it('rejects a body over maxFrameSize, with content-length before reading the body', () => {
    const limits = { ...LIMITS, maxFrameSize: 10 };
    const err = parseError('SEND\ncontent-length:11\n\n', '1.2', limits);
    expectCode(err, 'FERRY_STOMP_FRAME_TOO_LARGE');
    assert.match(err.message, /exceeds 10 bytes \(stomp\.maxFrameSize\)/);
    expectCode(parseError('SEND\ncontent-length:99999999999999999999999\n\n', '1.2', limits), 'FERRY_STOMP_FRAME_TOO_LARGE');
    assert.equal(parse(Buffer.from('SEND\ncontent-length:10\n\n0123456789\0'), '1.2', limits).frames.length, 1);
  });

  it('rejects a body over maxFrameSize without content-length, as soon as it passes the limit', () => {
    const limits = { ...LIMITS, maxFrameSize: 10 };
    const err = parseError(['SEND\n\n01234', '56789', 'X'].map((s) => Buffer.from(s)), '1.2', limits);
    expectCode(err, 'FERRY_STOMP_FRAME_TOO_LARGE');
    assert.equal(err.message, 'frame body exceeds 10 bytes (stomp.maxFrameSize)');
    expectCode(parseError('SEND\n\n01234567890\0', '1.2', limits), 'FERRY_STOMP_FRAME_TOO_LARGE');
    assert.equal(parse(Buffer.from('SEND\n\n0123456789\0'), '1.2', limits).frames.length, 1);
  });

  it('rejects a header block over maxHeaderSize, also while it is still arriving', () => {
    const limits = { ...LIMITS, maxHeaderSize: 32 };
    // 'SEND\n' (5) + 'k:' + 23 x's + '\n' (26) + the blank line (1) = 32 bytes; one x more is over.
    const fits = `SEND\nk:${'x'.repeat(23)}\n\n\0`;
    assert.equal(parse(Buffer.from(fits), '1.2', limits).frames.length, 1);
    expectCode(parseError(`SEND\nk:${'x'.repeat(24)}\n\n\0`, '1.2', limits), 'FERRY_STOMP_HEADER_TOO_LARGE');
    // A line with no LF in sight is refused once it passes the limit.
    expectCode(parseError(`SEND\nk:${'x'.repeat(100)}`, '1.2', limits), 'FERRY_STOMP_HEADER_TOO_LARGE');
    expectCode(parseError('X'.repeat(33), '1.2', limits), 'FERRY_STOMP_HEADER_TOO_LARGE');
    const trickle = Buffer.from(`SEND\nk:${'x'.repeat(100)}`);
    const err = parseError([...trickle].map((b) => Buffer.from([b])), '1.2', limits);
    expectCode(err, 'FERRY_STOMP_HEADER_TOO_LARGE');
    assert.equal(err.message, 'frame header exceeds 32 bytes (stomp.maxHeaderSize)');
  });

  it('rejects more headers than maxHeaders', () => {
    const limits = { ...LIMITS, maxHeaders: 3 };
    assert.equal(parse(Buffer.from('SEND\na:1\nb:2\nc:3\n\n\0'), '1.2', limits).frames.length, 1);
    const err = parseError('SEND\na:1\nb:2\nc:3\na:4\n\n\0', '1.2', limits);
    expectCode(err, 'FERRY_STOMP_HEADER_TOO_LARGE');
    assert.match(err.message, /more than 3 headers \(stomp\.maxHeaders\)/);
  });

  it('ignores all input after an error', () => {
    const frames: StompFrame[] = [];
    const errors: FerryError[] = [];
    const parser = new StompParser(LIMITS, (f) => frames.push(f), (e) => errors.push(e));
    parser.push(Buffer.from('SEND\n\nok\0BOGUS\n\n\0SEND\n\nlost\0'));
    parser.push(Buffer.from('SEND\n\nlost too\0'));
    assert.deepEqual(frames.map((f) => f.body.toString()), ['ok']);
    assert.equal(errors.length, 1);
  });

  it('stops parsing when onFrame throws, and lets the exception through', () => {
    let calls = 0;
    const parser = new StompParser(LIMITS, () => {
      calls++;
      throw new Error('boom');
    }, () => assert.fail('no parse error expected'));
    assert.throws(() => parser.push(Buffer.from('SEND\n\n\0SEND\n\n\0')), /boom/);
    parser.push(Buffer.from('SEND\n\n\0'));
    assert.equal(calls, 1);
  });
});

describe('StompParser: split input', () => {
  const stream = Buffer.concat([
    Buffer.from('\n\r\n'),
    encodeFrame('SEND', [['destination', '/queue/a'], ['receipt', 'r1']], Buffer.from([0x41, 0, 0, 0x42, 0x0a, 0]), '1.2'),
    Buffer.from('\n'),
    Buffer.from('MESSAGE\nkey\\cwith\\ncolon:va\\\\l\\r\\cue\nsubscription:1\n\nbody without length\0'),
    Buffer.from('\r\n\r\n'),
    Buffer.from('SEND\r\ndestination:/topic/t\r\nempty:\r\n\r\nhello\r\nworld\0'),
    Buffer.from('ACK\nid:1\ncontent-length:0\n\n\0'),
    encodeFrame('ERROR', [['message', 'ünï:cødé']], Buffer.from('€'), '1.2'),
    Buffer.from('\n'),
  ]);
  const whole = parse(stream);

  it('parses the reference stream whole', () => {
    assert.deepEqual(whole.errors, []);
    assert.equal(whole.frames.length, 5);
    assert.equal(whole.frames[1]?.headers.get('key:with\ncolon'), 'va\\l\r:ue');
    assert.equal(whole.frames[2]?.body.toString(), 'hello\r\nworld');
    assert.equal(whole.frames[2]?.headers.get('empty'), '');
  });

  it('gives the same frames for a split at every byte', () => {
    const expected = whole.frames.map(plain);
    for (let i = 0; i <= stream.length; i++) {
      const { frames, errors, parser } = parse([stream.subarray(0, i), stream.subarray(i)]);
      assert.deepEqual(errors, [], `split at ${i}`);
      assert.deepEqual(frames.map(plain), expected, `split at ${i}`);
      assert.equal(parser.idle, true);
    }
  });

  it('gives the same frames for every pair of split points', () => {
    const expected = whole.frames.map(plain);
    for (let i = 0; i <= stream.length; i += 3) {
      for (let j = i; j <= stream.length; j++) {
        const { frames } = parse([stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]);
        assert.deepEqual(frames.map(plain), expected, `split at ${i} and ${j}`);
      }
    }
  });

  it('gives the same frames one byte at a time, with copies (not views) of the input', () => {
    const chunks = [...stream].map((b) => Buffer.from([b]));
    const { frames, errors } = parse(chunks);
    assert.deepEqual(errors, []);
    assert.deepEqual(frames.map(plain), whole.frames.map(plain));
  });
});

describe('fuzz (fast-check)', () => {
  const smallLimits: StompParserLimits = { maxFrameSize: 64, maxHeaderSize: 64, maxHeaders: 4 };
  const versionArb = fc.constantFrom<StompVersion>('1.0', '1.1', '1.2');

  /** Cuts `data` at the given points (taken modulo its length). */
  function chunked(data: Uint8Array, points: number[]): Buffer[] {
    const cuts = [...new Set(points.map((p) => (data.length === 0 ? 0 : p % (data.length + 1))))].sort((a, b) => a - b);
    const out: Buffer[] = [];
    let from = 0;
    for (const cut of cuts) {
      out.push(Buffer.from(data.subarray(from, cut)));
      from = cut;
    }
    out.push(Buffer.from(data.subarray(from)));
    return out;
  }

  function feedSafely(chunks: Buffer[], version: StompVersion, limits: StompParserLimits): void {
    let errors = 0;
    let framesAfterError = 0;
    const parser = new StompParser(limits, () => {
      if (errors > 0) framesAfterError++;
    }, (err) => {
      errors++;
      assert.ok(err.code.startsWith('FERRY_STOMP_'));
    });
    parser.version = version;
    for (const chunk of chunks) parser.push(chunk);
    assert.ok(errors <= 1);
    assert.equal(framesAfterError, 0);
  }

  it('never throws out of push() on random bytes', () => {
    const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0, 0x0a, 0x0d, 0x3a, 0x5c));
    fc.assert(fc.property(
      fc.array(fc.oneof(
        fc.array(byte, { maxLength: 40 }).map((a) => Uint8Array.from(a)),
        fc.constantFrom(...COMMANDS).map((c) => Buffer.from(`${c}\n`)),
        fc.constantFrom('content-length:3\n', 'content-length:x\n', 'a:b\n', '\n', 'k:\\t\n').map((s) => Buffer.from(s)),
      ), { maxLength: 12 }).map((parts) => Buffer.concat(parts)),
      fc.array(fc.nat(), { maxLength: 6 }),
      versionArb,
      fc.boolean(),
      (data, points, version, small) => {
        feedSafely(chunked(data, points), version, small ? smallLimits : LIMITS);
      },
    ), { numRuns: 1000 });
  });

  it('never throws out of push() on mutated valid frames', () => {
    const frame = fc.tuple(
      fc.constantFrom(...COMMANDS),
      fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 6 }), fc.string({ maxLength: 8 })), { maxLength: 4 }),
      fc.uint8Array({ maxLength: 20 }),
    ).map(([command, headers, body]) => encodeFrame(command, headers, Buffer.from(body), '1.2'));
    const mutation = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete'));
    fc.assert(fc.property(
      fc.array(frame, { minLength: 1, maxLength: 4 }),
      fc.array(mutation, { maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      versionArb,
      fc.boolean(),
      (frames, mutations, points, version, small) => {
        const bytes = [...Buffer.concat(frames)];
        for (const [at, value, kind] of mutations) {
          const i = at % (bytes.length + 1);
          if (kind === 'insert') bytes.splice(i, 0, value);
          else if (i < bytes.length) {
            if (kind === 'set') bytes[i] = value;
            else bytes.splice(i, 1);
          }
        }
        feedSafely(chunked(Uint8Array.from(bytes), points), version, small ? smallLimits : LIMITS);
      },
    ), { numRuns: 1000 });
  });

  it('round-trips arbitrary frames through encodeFrame and the parser (1.2) with any chunking', () => {
    const special = fc.constantFrom(':', '\n', '\\', '\r', '\\n', '\\c');
    const unit = fc.oneof({ arbitrary: special, weight: 1 }, { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 3 });
    // CONNECT, STOMP and CONNECTED go unescaped, so their names and values must not need escapes.
    const rawUnit = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => !/[\r\n:\\]/.test(c));
    const headerArb = (u: fc.Arbitrary<string>, forName: boolean) => fc.string({ unit: u, minLength: forName ? 1 : 0, maxLength: 8 });
    const frameArb = fc.constantFrom(...COMMANDS).chain((command) => {
      const u = RAW_COMMANDS.has(command) ? rawUnit : unit;
      return fc.record({
        command: fc.constant(command),
        headers: fc.array(fc.tuple(headerArb(u, true), headerArb(u, false)), { maxLength: 5 })
          .map((hs) => hs.filter(([name]) => name !== 'content-length')),
        body: fc.oneof(fc.uint8Array({ maxLength: 30 }), fc.constant(new Uint8Array(0))),
      });
    });
    fc.assert(fc.property(
      fc.array(frameArb, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (frames, points) => {
        const wire = Buffer.concat(frames.map((f) => encodeFrame(f.command, f.headers, Buffer.from(f.body), '1.2')));
        const { frames: parsed, errors, parser } = parse(chunked(wire, points), '1.2');
        assert.deepEqual(errors, []);
        assert.equal(parser.idle, true);
        assert.equal(parsed.length, frames.length);
        frames.forEach((f, i) => {
          const expected = new Map<string, string>();
          for (const [name, value] of f.headers) if (!expected.has(name)) expected.set(name, value);
          if (f.body.includes(0)) expected.set('content-length', String(f.body.length));
          const got = parsed[i] as StompFrame;
          assert.equal(got.command, f.command);
          assert.deepEqual(got.headers, expected);
          assert.deepEqual([...got.body], [...f.body]);
        });
      },
    ), { numRuns: 500 });
  });
});
