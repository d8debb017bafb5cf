import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FerryError } from '../errors.js';
import { checkConfig } from './check.js';
import { configSchema, type FerryConfig } from './schema.js';

/** A configuration value as YAML gives it. */
export type ConfigValue = null | boolean | number | string | ConfigValue[] | { [key: string]: ConfigValue };
type Json = ConfigValue;
type Tree = { [key: string]: Json };

/** Settings given on the command line or in the environment, as dotted keys (`listeners.stomp.port`). */
export type Overrides = ReadonlyMap<string, Json>;

/** Where each override came from (`--stomp-port`, `FERRY_STOMP_PORT`), by its dotted key, for error messages. */
export type OverrideOrigins = ReadonlyMap<string, string>;

function setPath(tree: Tree, path: string, value: Json): void {
  const keys = path.split('.');
  let node: Tree = tree;
  for (const key of keys.slice(0, -1)) {
    const child = node[key];
    if (child === undefined || child === null || typeof child !== 'object' || Array.isArray(child)) node[key] = {};
    node = node[key] as Tree;
  }
  node[keys[keys.length - 1]!] = value;
}

export function readConfigFile(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FerryError('FERRY_CONFIG_UNREADABLE', `cannot read configuration file ${file}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new FerryError('FERRY_CONFIG_UNREADABLE', `${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new FerryError('FERRY_CONFIG_INVALID', `${file}: the top level must be a mapping of keys`);
  }
  return parsed as Tree;
}

/**
 * Builds the configuration: defaults, then the file, then overrides. An invalid value, or keys that
 * contradict each other, stop here with one line naming the key (and the option or environment
 * variable that set it) and what is wrong.
 */
export function loadConfig(file: string | undefined, overrides: Overrides = new Map(), origins: OverrideOrigins = new Map()): FerryConfig {
  const tree: Tree = file === undefined ? {} : readConfigFile(file);
  if (file !== undefined) resolveFilePaths(tree, dirname(resolve(file)));
  for (const [path, value] of overrides) setPath(tree, path, value);
  dropEmptySections(tree, configSchema);
  const where = (key: string): string => {
    const origin = originOf(key, origins);
    if (origin !== undefined) return `${origin} (${key})`;
    return `${file === undefined ? 'configuration' : file}: ${key || '(top level)'}`;
  };
  const result = configSchema.safeParse(tree);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    let key = issue.path.join('.');
    let problem = issue.message;
    if (issue.code === 'unrecognized_keys') {
      key = [...issue.path, issue.keys[0]].join('.');
      problem = 'unknown key';
    }
    throw new FerryError('FERRY_CONFIG_INVALID', `${where(key)}: ${problem}`);
  }
  const mistake = checkConfig(result.data);
  if (mistake !== undefined) {
    const blamed = mistake.other !== undefined && originOf(mistake.key, origins) === undefined && originOf(mistake.other, origins) !== undefined ? mistake.other : mistake.key;
    throw new FerryError('FERRY_CONFIG_INVALID', `${where(blamed)}: ${mistake.problem}`);
  }
  return result.data;
}

/** A schema without its default, optional and refinement wrappers. */
function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  let inner = schema;
  for (;;) {
    if (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) inner = inner._def.innerType;
    else if (inner instanceof z.ZodEffects) inner = inner._def.schema;
    else return inner;
  }
}

/** The object schema of a section, if `schema` is one. */
function sectionShape(schema: z.ZodTypeAny): Record<string, z.ZodTypeAny> | undefined {
  const inner = unwrap(schema);
  return inner instanceof z.ZodObject ? (inner.shape as Record<string, z.ZodTypeAny>) : undefined;
}

/**
 * A section whose keys are all commented out (`management:` with only comments under it) is null
 * in YAML; it is taken as absent, so it gets its defaults as if it were not written, which is how
 * people edit a file of defaults. Only sections: a null where a value belongs stays an error.
 */
function dropEmptySections(tree: Tree, schema: z.ZodTypeAny): void {
  const shape = sectionShape(schema);
  if (shape === undefined) return;
  for (const [key, value] of Object.entries(tree)) {
    const child = shape[key];
    if (child === undefined) continue;
    const items = listItems(child);
    if (items !== undefined && Array.isArray(value)) {
      // sections inside list entries, as a network connector's tls
      for (const item of value) if (item !== null && typeof item === 'object' && !Array.isArray(item)) dropEmptySections(item, items);
      continue;
    }
    if (sectionShape(child) === undefined) continue;
    if (value === null) delete tree[key];
    else if (typeof value === 'object' && !Array.isArray(value)) dropEmptySections(value, child);
  }
}

/** The schema of a list's entries, if `schema` is a list. */
function listItems(schema: z.ZodTypeAny): z.ZodTypeAny | undefined {
  const inner = unwrap(schema);
  return inner instanceof z.ZodArray ? (inner.element as z.ZodTypeAny) : undefined;
}

/**
 * Keys naming files, which a configuration file gives relative to its own folder (so that an example
 * folder works from wherever the broker starts); options and environment variables stay relative to
 * the working directory.
 */
export const FILE_PATH_KEYS: readonly string[] = ['security.users', 'security.ldap.ca', 'tls.cert', 'tls.key', 'tls.ca', 'tls.crl'];

/** The same, for each network connector's `tls` files (keys inside a list, which FILE_PATH_KEYS cannot name). */
const CONNECTOR_FILE_KEYS = ['ca', 'cert', 'key'] as const;

function resolveConnectorPaths(tree: Tree, folder: string): void {
  const network = tree['network'];
  const connectors = network !== null && typeof network === 'object' && !Array.isArray(network) ? network['connectors'] : undefined;
  if (!Array.isArray(connectors)) return;
  for (const connector of connectors) {
    const tls = connector !== null && typeof connector === 'object' && !Array.isArray(connector) ? connector['tls'] : undefined;
    if (tls === null || tls === undefined || typeof tls !== 'object' || Array.isArray(tls)) continue;
    for (const key of CONNECTOR_FILE_KEYS) {
      const value = tls[key];
      if (typeof value === 'string' && value !== '' && !isAbsolute(value)) tls[key] = resolve(folder, value);
    }
  }
}

function resolveFilePaths(tree: Tree, folder: string): void {
  resolveConnectorPaths(tree, folder);
  for (const key of FILE_PATH_KEYS) {
    const keys = key.split('.');
    let node: Json | undefined = tree;
    for (const k of keys.slice(0, -1)) node = node !== null && typeof node === 'object' && !Array.isArray(node) ? node[k] : undefined;
    if (node === null || node === undefined || typeof node !== 'object' || Array.isArray(node)) continue;
    const leaf = keys[keys.length - 1]!;
    const value = node[leaf];
    if (typeof value === 'string' && value !== '' && !isAbsolute(value)) node[leaf] = resolve(folder, value);
  }
}

/** The option that set `key`, or a key inside it or around it. */
function originOf(key: string, origins: OverrideOrigins): string | undefined {
  const exact = origins.get(key);
  if (exact !== undefined) return exact;
  for (const [path, origin] of origins) if (path.startsWith(`${key}.`) || key.startsWith(`${path}.`)) return origin;
  return undefined;
}
