import assert from 'node:assert/strict';
import { test } from 'node:test';
import { heapAdvice } from '../../src/cli/server.js';

const GIB = 1024 * 1024 * 1024;

test('a backlog that needs a large share of the heap limit gets advice to raise it; a small one none', () => {
  assert.equal(heapAdvice(0, 4 * GIB), undefined);
  assert.equal(heapAdvice(3_000_000, 4 * GIB), undefined, 'three million waiting messages fit in a 4 GiB heap');
  const advice = heapAdvice(4_000_000, 4 * GIB);
  assert.match(advice ?? '', /4000000 waiting messages need about 2442 MiB of heap to recover, and Node's heap limit is 4096 MiB/);
  assert.match(advice ?? '', /NODE_OPTIONS=--max-old-space-size=7326/);
});
