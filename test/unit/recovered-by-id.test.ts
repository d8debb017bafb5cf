import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecoveredById } from '../../src/core/recovery-references.js';

test('recovered items are found by id whether they came in id order or not, and absent ids are not', () => {
  for (const shuffled of [false, true]) {
    const ids = Array.from({ length: 5000 }, (_, i) => 3 * i + 7);
    if (shuffled) for (let i = ids.length - 1; i > 0; i--) {
      const j = (i * 7919) % (i + 1);
      [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    }
    const byId = new RecoveredById<string>();
    for (const id of ids) byId.add(id, `item ${id}`);
    assert.equal(byId.size, ids.length);
    for (const id of ids) assert.equal(byId.get(id), `item ${id}`, `id ${id}, ${shuffled ? 'shuffled' : 'in order'}`);
    for (const absent of [0, 8, 9, 3 * 5000 + 7, 2 ** 40]) assert.equal(byId.get(absent), undefined, `absent ${absent}`);
    // a late add after lookups is found too
    byId.add(1, 'late');
    assert.equal(byId.get(1), 'late');
    assert.equal(byId.get(7), 'item 7');
    assert.equal(byId.values().length, ids.length + 1);
  }
});
