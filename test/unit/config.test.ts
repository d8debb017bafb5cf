import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { z } from 'zod';
import { configSchema, loadConfig } from '../../src/config/index.js';

/** Every leaf key of the schema as a dotted path. */
function keys(schema: z.ZodTypeAny, prefix = ''): string[] {
  let inner = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) inner = inner._def.innerType;
  if (!(inner instanceof z.ZodObject)) return [prefix];
  return Object.entries(inner.shape as Record<string, z.ZodTypeAny>).flatMap(([k, v]) => keys(v, prefix === '' ? k : `${prefix}.${k}`));
}

test('the README documents every configuration key, with its default', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const block = readme.slice(readme.indexOf('## Configuration file'), readme.indexOf('## `ferry send`'));
  const defaults = loadConfig(undefined);
  for (const key of keys(configSchema)) {
    const leaf = key.split('.').pop()!;
    assert.match(block, new RegExp(`\\b${leaf}:`), `README lacks ${key}`);
    const value = key.split('.').reduce<unknown>((node, k) => (node as Record<string, unknown>)[k], defaults);
    const line = block.split('\n').find((l) => l.trim().startsWith(`${leaf}:`) && l.includes(String(value)));
    assert.ok(line !== undefined, `README shows ${key} with its default ${String(value)}`);
  }
});

test('defaults, overrides and errors that name the key', () => {
  const config = loadConfig(undefined, new Map<string, string | number | boolean>([['listeners.stomp.port', 0]]));
  assert.equal(config.listeners.stomp.port, 0);
  assert.equal(config.stomp.maxFrameSize, 10 * 1024 * 1024);
  assert.throws(() => loadConfig(undefined, new Map([['listeners.stomp.port', 70000]])), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'FERRY_CONFIG_INVALID');
    assert.match(err.message, /listeners\.stomp\.port/);
    return true;
  });
  assert.throws(() => loadConfig(undefined, new Map([['stomp.heartbeatGrace', 0.5]])), /stomp\.heartbeatGrace/);
  assert.throws(() => loadConfig(undefined, new Map([['store.type', 'disk']])), /store\.type/);
});
