import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFerryError } from '../../src/errors.js';
import type { Principal } from '../../src/core/index.js';
import { DestinationAuthorizer, patternCovers } from '../../src/security/authorization.js';

const user = (name: string, ...groups: string[]): Principal => ({ username: name, groups, internal: false });
const refuses = (fn: () => void, right: RegExp): void =>
  assert.throws(fn, (err) => {
    assert.ok(isFerryError(err, 'FERRY_NOT_AUTHORIZED'));
    assert.match(err.message, right);
    return true;
  });

test('an entry covers a subscription pattern only when it matches every name the pattern does', () => {
  assert.ok(patternCovers('orders.>', 'orders.eu'));
  assert.ok(patternCovers('orders.>', 'orders.>'));
  assert.ok(patternCovers('orders.>', 'orders.*.paid'));
  assert.ok(patternCovers('>', 'anything.at.all'));
  assert.ok(patternCovers('*.eu', 'orders.eu'));
  assert.ok(patternCovers('*.eu', '*.eu'));
  assert.ok(!patternCovers('orders.*', 'orders.>'));
  assert.ok(!patternCovers('orders.eu', 'orders.*'));
  assert.ok(!patternCovers('orders.>', 'orders'));
  assert.ok(!patternCovers('*.eu', 'orders.us'));
  assert.ok(!patternCovers('orders', 'orders.eu'));
  // the broker's own topics need entries of their own
  assert.ok(!patternCovers('>', '$SYS.broker.clients'));
  assert.ok(!patternCovers('*.broker.>', '$SYS.broker.clients'));
  assert.ok(patternCovers('$SYS.>', '$SYS.broker.clients'));
});

test('rights come from the union of the entries that cover the destination, by group', () => {
  const authorizer = new DestinationAuthorizer([
    { queue: 'orders.>', read: ['shop'], write: ['shop', 'billing'], browse: ['ops'] },
    { queue: 'orders.eu', read: ['eu'] },
    { topic: 'prices.*', read: ['*'], write: ['feed'] },
    { queue: '>', admin: ['admins'], create: ['admins'] },
  ]);
  const shop = user('alice', 'shop');
  const eu = user('erik', 'eu');
  const anyone = user('bob');
  authorizer.authorize(shop, 'consume', { kind: 'queue', name: 'orders.us' });
  authorizer.authorize(shop, 'send', { kind: 'queue', name: 'orders.us' });
  authorizer.authorize(eu, 'consume', { kind: 'queue', name: 'orders.eu' });
  refuses(() => authorizer.authorize(eu, 'consume', { kind: 'queue', name: 'orders.us' }), /user "erik" may not consume from queue "orders.us" \(no read right\)/);
  refuses(() => authorizer.authorize(shop, 'browse', { kind: 'queue', name: 'orders.us' }), /no browse right/);
  // the same name as a topic is another destination
  refuses(() => authorizer.authorize(shop, 'consume', { kind: 'topic', name: 'orders.us' }), /topic "orders.us"/);
  authorizer.authorize(anyone, 'consume', { kind: 'topic', name: 'prices.eur' });
  refuses(() => authorizer.authorize(anyone, 'send', { kind: 'topic', name: 'prices.eur' }), /no write right/);
  // a wildcard subscription wider than the grant is refused
  refuses(() => authorizer.authorize(anyone, 'consume', { kind: 'topic', name: 'prices.>' }), /no read right/);
  authorizer.authorize(user('root', 'admins'), 'delete', { kind: 'queue', name: 'x' });
  refuses(() => authorizer.authorize(shop, 'admin', { kind: 'queue', name: 'orders.us' }), /may not manage .*no admin right/);
  refuses(() => authorizer.authorize(shop, 'create', { kind: 'queue', name: 'orders.new' }), /no create right/);
});

test('temporary destinations are matched by temporary entries only; an anonymous client is named as such', () => {
  const authorizer = new DestinationAuthorizer([{ temporary: true, read: ['*'], write: ['*'], create: ['apps'] }, { queue: '>', read: ['ops'] }]);
  const app = user('app', 'apps');
  authorizer.authorize(app, 'create', { kind: 'queue', name: 'tmp-1', temporary: true });
  authorizer.authorize(user('other'), 'send', { kind: 'topic', name: 'tmp-2', temporary: true });
  refuses(() => authorizer.authorize(user('ops', 'ops'), 'create', { kind: 'queue', name: 'tmp-3', temporary: true }), /temporary queue "tmp-3"/);
  refuses(() => authorizer.authorize({ username: undefined, groups: [], internal: false }, 'consume', { kind: 'queue', name: 'q' }), /an anonymous client may not consume/);
});

test('an answer is remembered per principal, and a principal with other groups gets its own', () => {
  const authorizer = new DestinationAuthorizer([{ queue: 'q', write: ['w'] }]);
  const writer = user('w', 'w');
  for (let i = 0; i < 3000; i++) authorizer.authorize(writer, 'send', { kind: 'queue', name: 'q' });
  // the same user after a reload of the users file left the group: a new principal, a new answer
  refuses(() => authorizer.authorize(user('w'), 'send', { kind: 'queue', name: 'q' }), /no write right/);
});

test('a remembered answer for a temporary destination is never taken for the topic or queue of the same name, nor the other way', () => {
  const authorizer = new DestinationAuthorizer([{ temporary: true, read: ['apps'], write: ['apps'] }, { topic: 'secret.>', read: ['ops'] }]);
  const app = user('alice', 'apps');
  for (const kind of ['topic', 'queue'] as const) {
    authorizer.authorize(app, 'consume', { kind, name: 'secret.t', temporary: true });
    refuses(() => authorizer.authorize(app, 'consume', { kind, name: 'secret.t' }), /no read right/);
    const other = user('bob', 'apps');
    refuses(() => authorizer.authorize(other, 'consume', { kind, name: 'secret.u' }), /no read right/);
    authorizer.authorize(other, 'consume', { kind, name: 'secret.u', temporary: true });
  }
});
