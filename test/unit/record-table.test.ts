import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordTable } from '../../src/store/journal/record-table.js';

/** A small deterministic generator, so that a failure names a seed that reproduces it. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x100000000;
  };
}

/** Checks every id the model holds is found at a row that holds it, and a few absent ones are not. */
function agree(table: RecordTable, model: Map<number, number>, rand: () => number, context: string): void {
  assert.equal(table.size, model.size, `size, ${context}`);
  for (const [id, type] of model) {
    const row = table.rowOf(id);
    assert.ok(row >= 0, `id ${id} is found, ${context}`);
    assert.equal(table.ids[row], id, context);
    assert.equal(table.types[row], type, `the row of ${id} keeps its column, ${context}`);
  }
  for (let i = 0; i < 50; i++) {
    const id = Math.floor(rand() * 2 ** 40);
    if (!model.has(id)) assert.equal(table.rowOf(id), -1, `absent id ${id}, ${context}`);
  }
  assert.deepEqual([...table.rows()].map((row) => table.ids[row]).sort((a, b) => a! - b!), [...model.keys()].sort((a, b) => a - b), `rows, ${context}`);
}

test('random inserts and removes agree with a Map: sequential ids, ids far apart (an old record beside new ones), ids past 2^32', () => {
  for (const seed of [1, 2, 3]) {
    const rand = random(seed);
    const table = new RecordTable();
    const model = new Map<number, number>();
    let next = seed === 3 ? 2 ** 33 : 1;
    for (let step = 0; step < 60_000; step++) {
      const r = rand();
      if (r < 0.55 || model.size === 0) {
        // mostly the next id; now and then one a table size or more away, to pile up probes
        const id = rand() < 0.9 ? next++ : next + Math.floor(rand() * 4) * 4096 + 100_000;
        if (model.has(id)) continue;
        const row = table.insert(id);
        table.types[row] = id % 1000;
        model.set(id, id % 1000);
      } else {
        const ids = [...model.keys()];
        const id = ids[Math.floor(rand() * Math.min(ids.length, rand() < 0.8 ? 64 : ids.length))]!;
        table.remove(table.rowOf(id));
        model.delete(id);
      }
      if (step % 10_000 === 9_999) agree(table, model, rand, `seed ${seed}, step ${step}`);
    }
    agree(table, model, rand, `seed ${seed}, end`);
  }
});

test('append-only rows keep the order of first inserts, through squeezes that drop removed rows, and reuse rows only afterwards', () => {
  const table = new RecordTable();
  const moved: [number, number][] = [];
  table.appendOnly = true;
  table.squeezable = true;
  table.moved = (from, to) => moved.push([from, to]);
  const order: number[] = [];
  for (let id = 1; id <= 5000; id++) {
    const row = table.insert(id);
    table.types[row] = id;
    order.push(id);
    // remove two of every three older ids as it goes, so the columns fill with removed rows
    if (id % 3 !== 0 && id > 10) {
      table.remove(table.rowOf(id - 10));
      order.splice(order.indexOf(id - 10), 1);
    }
  }
  assert.ok(moved.length > 0, 'rows were squeezed together');
  assert.deepEqual([...table.rows()].map((row) => table.ids[row]), order, 'rows are in insertion order');
  for (const row of table.rows()) assert.equal(table.types[row], table.ids[row], 'columns moved with their rows');
  const high = table.high;
  table.reuseRemoved();
  const freed = table.rowOf(order[0]!);
  const generation = table.generations[freed];
  table.remove(freed);
  const reused = table.insert(99_999);
  assert.equal(reused, freed, 'a removed row is used again');
  assert.notEqual(table.generations[reused], generation, 'and its generation says so');
  assert.equal(table.high, high);
});
