import assert from 'node:assert/strict';
import { test } from 'node:test';
import { table } from '../../src/cli/output.js';

test('a table keeps one line per row: control characters in a cell are shown escaped; numbers align right', () => {
  const out = table([
    ['name', 'pending'],
    ['orders\nsplit', 1],
    ['tab\there', 22],
    ['bell\u0007', 333],
  ]);
  assert.deepEqual(out.split('\n'), [
    'name           pending',
    'orders\\nsplit        1',
    'tab\\there           22',
    'bell\\u0007         333',
  ]);
});
