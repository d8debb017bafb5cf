import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tuneHeap } from '../../src/cli/heap-tuning.js';

test('the broker turns allocation-site pretenuring off unless its Node was told either way', () => {
  assert.deepEqual(tuneHeap([]), { pretenuring: 'off' });
  assert.deepEqual(tuneHeap(['--max-old-space-size=4096', '--import', 'x.mjs']), { pretenuring: 'off' });
  assert.deepEqual(tuneHeap(['--allocation-site-pretenuring']), { pretenuring: 'as given' });
  assert.deepEqual(tuneHeap(['--no-allocation_site_pretenuring']), { pretenuring: 'as given' });
});
