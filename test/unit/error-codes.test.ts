import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { errorCodes } from '../../src/errors.js';

test('docs/errors.md lists exactly the codes of src/errors.ts', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `(FERRY_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
  const defined = new Set(Object.keys(errorCodes));
  assert.deepEqual([...defined].filter((c) => !documented.has(c)), [], 'codes missing from docs/errors.md');
  assert.deepEqual([...documented].filter((c) => !defined.has(c!)), [], 'codes in docs/errors.md that src/errors.ts does not define');
});
