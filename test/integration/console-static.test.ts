import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { defaultConsoleDirectory } from '../../src/management/static.js';
import { startSecureBroker, type SecureBroker } from '../helpers/security.js';

// The web console's files as the management listener serves them, with security on: no login is
// needed for the page itself (the page is where one logs in), and the API stays behind it.

let broker: SecureBroker;
let base: string;
let index: string;

before(async () => {
  assert.ok(existsSync(join(defaultConsoleDirectory, 'index.html')), `the console is not built in ${defaultConsoleDirectory}: run npm run build`);
  index = readFileSync(join(defaultConsoleDirectory, 'index.html'), 'utf8');
  broker = await startSecureBroker();
  base = `http://127.0.0.1:${broker.server.ports['http']!}`;
});

after(async () => {
  await broker?.stop();
});

/** The hashed script and stylesheet that index.html names. */
function assets(): { script: string; style: string } {
  const script = /src="(\/assets\/[^"]+\.js)"/.exec(index)?.[1];
  const style = /href="(\/assets\/[^"]+\.css)"/.exec(index)?.[1];
  assert.ok(script !== undefined && style !== undefined, `index.html names no script or stylesheet:\n${index}`);
  return { script, style };
}

/** A request line sent as it is, so the path is not tidied by a client library first. */
function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('the web console on the management listener', () => {
  test('/ is the console page, without a login, under a strict Content-Security-Policy and checked again on each load', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(await res.text(), index);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    // the page itself holds no script or style of its own, which the policy would refuse
    assert.doesNotMatch(index, /<script(?![^>]*\ssrc=)[^>]*>/);
    assert.doesNotMatch(index, /<style|\sstyle=|\son[a-z]+=/i);
  });

  test('a page of the console (a path of its own) is index.html; an If-None-Match of its ETag is a 304', async () => {
    for (const path of ['/queues/orders.eu', '/queues/orders.json', '/topics/prices%2Feu', '/no-such-page', '/robots.txt']) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(await res.text(), index, path);
    }
    const res = await fetch(`${base}/queues/orders.eu`);
    const etag = res.headers.get('etag');
    assert.ok(etag !== null);
    const again = await fetch(`${base}/dead-letters`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
  });

  test('the hashed script and stylesheet come with their content types and are kept for a year', async () => {
    const { script, style } = assets();
    const js = await fetch(`${base}${script}`);
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(await js.text(), readFileSync(join(defaultConsoleDirectory, script)).toString('utf8'));
    const css = await fetch(`${base}${style}`);
    assert.equal(css.status, 200);
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
    const icon = await fetch(`${base}/favicon.svg`);
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get('content-type'), 'image/svg+xml');
    assert.equal(icon.headers.get('cache-control'), 'no-cache');
  });

  test('a file that is not there is a 404, not the page (a browser would run HTML as a script)', async () => {
    for (const path of ['/assets/main-MISSING.js', '/assets/deep/er.css', '/assets/logo.png', '/nothing.css', '/missing.js', '/main.js.map']) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8', path);
    }
  });

  test('a path that climbs out of the console folder reads nothing outside it', async () => {
    for (const path of ['/../../package.json', '/assets/../../../package.json', '/%2e%2e/%2e%2e/package.json', '/..%2f..%2fpackage.json', '/%00index.html']) {
      const answer = await rawGet(broker.server.ports['http']!, path);
      assert.doesNotMatch(answer, /"name": "ferry"/, path);
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1]);
      // either not found, or the console's page for a path with no file in it
      assert.ok(status === 404 || (status === 200 && answer.includes('<div id="app">')), `${path}: ${answer.slice(0, 200)}`);
    }
  });

  test('the API is still the API: it wants credentials, and only GET and HEAD reach the console', async () => {
    const api = await fetch(`${base}/api/stats`);
    assert.equal(api.status, 401);
    assert.match(api.headers.get('content-type') ?? '', /application\/json/);
    const unknownApi = await fetch(`${base}/api/v1/nothing-here`);
    assert.notEqual(await unknownApi.text(), index);
    const post = await fetch(`${base}/`, { method: 'POST', body: 'x' });
    assert.notEqual(post.status, 200);
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });
});
