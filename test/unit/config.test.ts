import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { pino } from 'pino';
import { startOverrides } from '../../src/cli/start.js';
import { configSchema, loadConfig } from '../../src/config/index.js';
import { createAmqpAdapter } from '../../src/protocols/amqp/index.js';
import { createMqttAdapter } from '../../src/protocols/mqtt/index.js';
import { createStompAdapter } from '../../src/protocols/stomp/index.js';

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
    const value = key.split('.').reduce<unknown>((node, k) => (node as Record<string, unknown> | undefined)?.[k], defaults);
    // a key without a default is shown commented out, with an example
    const line = block
      .split('\n')
      .find((l) => (value === undefined ? /^#\s*\S/.test(l.trim()) && l.trim().replace(/^#\s*/, '').startsWith(`${leaf}:`) : l.trim().startsWith(`${leaf}:`) && l.includes(String(value))));
    assert.ok(line !== undefined, value === undefined ? `README shows ${key} commented out, as it has no default` : `README shows ${key} with its default ${String(value)}`);
  }
});

/** Loads `yaml` as a configuration file. */
function loadYaml(yaml: string): ReturnType<typeof loadConfig> {
  const folder = mkdtempSync(join(tmpdir(), 'ferry-config-'));
  try {
    const file = join(folder, 'ferry.yaml');
    writeFileSync(file, yaml);
    return loadConfig(file);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

test('the README\'s block of defaults loads as written, and gives the defaults', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('```yaml\n', readme.indexOf('The defaults:'));
  assert.ok(start >= 0, 'the README shows its defaults');
  const block = readme.slice(start + '```yaml\n'.length, readme.indexOf('\n```', start + 1));
  assert.deepEqual(loadYaml(block), loadConfig(undefined));
});

test('a section whose keys are all commented out is taken as absent, and gets its defaults', () => {
  const config = loadYaml(['management:', '  # monitor: [admins]', 'broker:', 'listeners:', '  stomp:', '    # port: 61613', 'security:', '  failedLoginDelay:', 'network:', '  connectors:', '    - name: east', '      uris: [stomp://east:61613]', '      tls:', '        # ca: ca.pem', ''].join('\n'));
  const defaults = loadConfig(undefined);
  assert.deepEqual(config.management, defaults.management);
  assert.deepEqual(config.broker, defaults.broker);
  assert.deepEqual(config.listeners.stomp, defaults.listeners.stomp);
  assert.deepEqual(config.security.failedLoginDelay, defaults.security.failedLoginDelay);
  assert.equal(config.network.connectors[0]!.name, 'east');
  // a key with no value is not a section: it stays an error that names it
  assert.throws(() => loadYaml('listeners:\n  stomp:\n    port:\n'), /listeners\.stomp\.port: Expected number, received null/);
});

/** The schema under its default, optional and refinement wrappers. */
function unwrapped(schema: z.ZodTypeAny): z.ZodTypeAny {
  let inner = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional || inner instanceof z.ZodEffects) inner = inner instanceof z.ZodEffects ? inner._def.schema : inner._def.innerType;
  return inner;
}

test('the docs name only rights that a configuration can grant', () => {
  const security = unwrapped(configSchema.shape.security) as z.AnyZodObject;
  const entry = unwrapped((unwrapped(security.shape.authorization) as z.ZodArray<z.ZodTypeAny>).element) as z.AnyZodObject;
  const management = unwrapped(configSchema.shape.management) as z.AnyZodObject;
  const rights = new Set([...Object.keys(entry.shape).filter((k) => !['queue', 'topic', 'temporary'].includes(k)), ...Object.keys(management.shape)]);
  const docs = new URL('../../../docs/', import.meta.url);
  // architecture.md names core's operations (send, consume), which the rights map onto
  const files = readdirSync(docs).filter((f) => f.endsWith('.md') && f !== 'architecture.md');
  assert.ok(files.includes('network.md') && files.includes('security.md'));
  for (const file of files) {
    const text = readFileSync(new URL(file, docs), 'utf8').replace(/\s+/g, ' ');
    for (const match of text.matchAll(/`(\w+)` rights?\b|needs? (?:the destination's )?`(\w+)` on\b/g)) {
      const right = match[1] ?? match[2]!;
      assert.ok(rights.has(right), `${file} names a \`${right}\` right; the rights are ${[...rights].join(', ')}`);
    }
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
  // the idle check runs at this period, and a Node timer past 2^31-1 ms fires after 1 ms
  assert.throws(() => loadConfig(undefined, new Map([['amqp.idleTimeout', 2 ** 31]])), /amqp\.idleTimeout/);
  assert.equal(loadConfig(undefined, new Map([['amqp.idleTimeout', 2 ** 31 - 1]])).amqp.idleTimeout, 2 ** 31 - 1);
  // every other duration a timer waits is held to the same bound
  for (const key of ['stomp.connectTimeout', 'mqtt.connectTimeout', 'mqtt.sysInterval', 'mqtt.websocketPingInterval', 'amqp.openTimeout', 'amqp091.handshakeTimeout', 'openwire.negotiateTimeout', 'openwire.maxInactivityDurationInitialDelay', 'transport.stopTimeout', 'websocket.pingInterval', 'websocket.handshakeTimeout', 'store.journal.compactInterval', 'ha.leaseDuration', 'destinations.idleTopicTimeout', 'destinations.expirySweepInterval']) {
    assert.throws(() => loadConfig(undefined, new Map([[key, 2 ** 31]])), new RegExp(key.replaceAll('.', '\\.')), key);
  }
  // except the intervals a client negotiates, longs in their protocols; the README names each
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8').replace(/\s+/g, ' ');
  const rule = readme.slice(readme.indexOf('A duration in ms is at most'), readme.indexOf('The defaults:'));
  for (const key of ['stomp.heartbeatSend', 'stomp.heartbeatReceive', 'openwire.maxInactivityDuration']) {
    const config = loadConfig(undefined, new Map([[key, 2 ** 32]]));
    assert.equal(key.split('.').reduce<unknown>((node, k) => (node as Record<string, unknown>)[k], config), 2 ** 32, key);
    assert.ok(rule.includes(`\`${key}\``), `the README's rule names ${key} as unbounded`);
  }
  assert.ok(!rule.includes('`openwire.maxInactivityDurationInitialDelay`'));
});

test('store.postgres.url takes the URLs node-postgres connects with', () => {
  for (const url of ['postgresql://ferry:secret@db.example.com:5432/ferry', 'postgres://localhost/ferry', 'postgresql://ferry@/ferry?host=%2Fvar%2Frun%2Fpostgresql&port=5432', 'postgresql:///ferry?host=/run/postgresql', 'postgresql://[::1]:5432/ferry?sslmode=require']) {
    assert.equal(loadConfig(undefined, new Map([['store.postgres.url', url]])).store.postgres.url, url);
  }
  for (const url of ['notaurl', 'db.example.com:5432/ferry', 'mysql://db/ferry']) {
    assert.throws(() => loadConfig(undefined, new Map([['store.postgres.url', url]])), /store\.postgres\.url/, url);
  }
});

test('the README\'s second broker beside the first shares none of its ports', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const command = /ferry start --data \.\/data2[^`]*/.exec(readme)?.[0];
  assert.ok(command !== undefined, 'the README shows a second broker');
  const { overrides, origins } = startOverrides(command.split(/\s+/).slice(2), {});
  const second = loadConfig(undefined, overrides, origins);
  const first = loadConfig(undefined);
  const taken = new Set(Object.values(first.listeners).map((l) => l.port));
  for (const [name, listener] of Object.entries(second.listeners)) {
    if (listener.enabled) assert.ok(!taken.has(listener.port), `the second broker's ${name} listener takes port ${listener.port}, which the first holds`);
  }
});

test('the README names every WebSocket subprotocol the broker serves', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const config = loadConfig(undefined);
  const logger = pino({ level: 'silent' });
  const served = [createStompAdapter(config.stomp, logger), createMqttAdapter(config.mqtt, logger), createAmqpAdapter(config.amqp, logger)].flatMap((a) => a.webSocketProtocols ?? []);
  assert.ok(served.length > 0);
  const portsRow = readme.split('\n').find((l) => l.includes('`listeners.websocket`') && l.startsWith('|'))!;
  const section = readme.slice(readme.indexOf('over WebSocket\n'), readme.indexOf('## Benchmark'));
  for (const subprotocol of served) {
    assert.ok(portsRow.includes(`\`${subprotocol}\``), `the ports table names ${subprotocol}`);
    assert.ok(section.includes(`\`${subprotocol}\``), `the WebSocket section names ${subprotocol}`);
  }
});
