import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { ManagementApi, destinationUri, managementHelp, segment, usageError } from './http-api.js';
import { parseManagement, type FullMessage, type MessagePage, type TypedProperty } from './operate.js';
import { managementCommand, plural } from './output.js';

/**
 * A queue's messages as JSON lines, one message a line, and back. A line keeps what the broker
 * lets a sender set (headers, typed properties with their wire types, the body with its encoding
 * and kind, where a dead letter was first sent), so that an import into another broker or queue
 * sends the same message again; the broker gives it a new id and timestamp.
 *
 * Each line says its format's version. Version 1 (lines without one) had no `groupSeq` and no
 * body kind, and its properties were typed by value only; such lines still import, as text or
 * bytes. A line of a later version than this tool knows is refused rather than half read.
 */
export const LINE_VERSION = 2;

export type BodyKind = 'text' | 'bytes' | 'map' | 'stream' | 'object' | 'none';

export interface MessageLine {
  version: number;
  id: string;
  timestamp: number;
  persistent: boolean;
  priority: number;
  /** Epoch ms, 0 when it never expires. */
  expiration: number;
  correlationId: string | null;
  type: string | null;
  groupId: string | null;
  groupSeq: number | null;
  replyTo: string | null;
  deliveryCount: number;
  originalDestination: string | null;
  properties: TypedProperty[];
  /** `kind` is how consumers read the bytes: a JMS MapMessage's are its map as the broker keeps it. */
  body: { encoding: 'text' | 'base64'; kind: BodyKind; data: string };
}

/** Whole messages asked for at once during an export: one request per page, memory bounded by one page (the broker also ends a page at 8 MiB of bodies). */
const EXPORT_PAGE = 500;

export const exportHelp = `Usage: ferry export QUEUE [FILE] [options]

Writes the messages waiting in QUEUE to FILE (standard output without one) as JSON lines, one
message a line: headers, typed properties (a JMS byte, short or float keeps its type), where a
dead letter was first sent, and the body as text or base64 with its encoding and its kind (text,
bytes, or a JMS map, stream, object or plain message, as the broker keeps it).
Nothing is consumed. Consumers may go on meanwhile: each page starts after the last message of
the one before, so no message that waits throughout is missed.

Options:
  --selector SQL           only messages matching this JMS selector
`;

export const importHelp = `Usage: ferry import DESTINATION [FILE] [options]

Sends each message of FILE (standard input without one), JSON lines as "ferry export" writes
them, to DESTINATION (a queue name, queue://NAME or topic://NAME) through the management API:
the same body and kind, typed properties, headers and, for a dead letter, where it was first sent
(so "ferry retry-dlq" can send it back). A message whose expiration has passed is skipped and
counted. Lines of an earlier format (without "version") import too, their bodies as text or bytes.
`;

function lineOf(m: FullMessage): MessageLine {
  return {
    version: LINE_VERSION,
    id: m.id,
    timestamp: m.timestamp,
    persistent: m.persistent,
    priority: m.priority,
    expiration: m.expiration,
    correlationId: m.correlationId,
    type: m.type,
    groupId: m.groupId,
    groupSeq: m.groupSeq,
    replyTo: m.replyTo,
    deliveryCount: m.deliveryCount,
    originalDestination: m.originalDestination,
    properties: m.properties,
    body: { encoding: m.body.encoding, kind: m.bodyKind, data: m.body.data },
  };
}

async function writeLine(out: Writable, text: string): Promise<void> {
  if (!out.write(`${text}\n`)) await once(out, 'drain');
}

export function exportMessages(argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const { values, positionals } = parseManagement(argv, { selector: { type: 'string' } }, 'ferry export QUEUE [FILE]', 2);
    if (values.help === true) {
      process.stdout.write(`${exportHelp}\n${managementHelp}`);
      return 0;
    }
    const queue = positionals[0];
    if (queue === undefined) throw usageError('name the queue to export: ferry export QUEUE [FILE]');
    const file = positionals[1];
    const api = await ManagementApi.open(values);
    const out = file === undefined || file === '-' ? process.stdout : createWriteStream(file);
    if (out !== process.stdout) {
      // a file that cannot be written says so before anything is fetched, as one line rather than a stack
      await new Promise<void>((resolve, reject) => out.once('open', () => resolve()).once('error', (err: Error) => reject(usageError(`cannot write ${file}: ${err.message}`))));
    }
    let written = 0;
    // page by page, each page whole messages in the queue's order, written before the next is asked
    // for: the export holds one page, however deep the queue. Each page starts after the last
    // message of the one before, not at an offset: messages that consumers take meanwhile would
    // shift an offset past as many that still wait
    for (let after: string | undefined; ; ) {
      const page = await api.get<MessagePage<FullMessage>>(`/api/v1/queues/${segment(queue)}/messages`, { selector: values.selector, after, limit: EXPORT_PAGE, full: 'true' });
      for (const message of page.items) {
        await writeLine(out, JSON.stringify(lineOf(message)));
        written++;
      }
      if (!page.more || page.next === null) break;
      after = page.next;
    }
    if (out !== process.stdout) {
      out.end();
      await once(out, 'finish');
    }
    process.stderr.write(`exported ${plural(written, 'message')} from ${queue}${file === undefined || file === '-' ? '' : ` to ${file}`}\n`);
    return 0;
  });
}

const propertyTypes = new Set(['boolean', 'byte', 'short', 'int', 'long', 'float', 'double', 'char', 'string', 'bytes']);
const bodyKinds: ReadonlySet<unknown> = new Set<BodyKind>(['text', 'bytes', 'map', 'stream', 'object', 'none']);

/** The send body of the management API for one line; throws a usage error naming the line when it is not one. */
export function sendBodyOf(line: unknown, where: string, now: number): Record<string, unknown> | 'expired' {
  if (typeof line !== 'object' || line === null || Array.isArray(line)) throw usageError(`${where}: not a JSON object`);
  const m = line as Partial<MessageLine>;
  const version = m.version ?? 1;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) throw usageError(`${where}: "version" must be a whole number from 1`);
  if (version > LINE_VERSION) throw usageError(`${where}: a line of version ${version}, which a later ferry wrote; this one reads versions up to ${LINE_VERSION}`);
  const body = m.body;
  if (typeof body !== 'object' || body === null || typeof body.data !== 'string' || (body.encoding !== 'text' && body.encoding !== 'base64')) {
    throw usageError(`${where}: "body" must be {"encoding": "text" or "base64", "kind", "data": string}`);
  }
  if (body.kind !== undefined && !bodyKinds.has(body.kind)) throw usageError(`${where}: the body's "kind" must be one of ${[...bodyKinds].join(', ')}`);
  const send: Record<string, unknown> = { body: body.data, bodyEncoding: body.encoding };
  if (body.kind !== undefined) send['bodyKind'] = body.kind;
  if (typeof m.persistent === 'boolean') send['persistent'] = m.persistent;
  if (typeof m.priority === 'number') send['priority'] = m.priority;
  if (typeof m.expiration === 'number' && m.expiration > 0) {
    if (m.expiration <= now) return 'expired';
    send['timeToLive'] = m.expiration - now;
  }
  if (typeof m.correlationId === 'string') send['correlationId'] = m.correlationId;
  if (typeof m.type === 'string') send['type'] = m.type;
  if (typeof m.groupId === 'string') send['groupId'] = m.groupId;
  if (typeof m.groupId === 'string' && typeof m.groupSeq === 'number') send['groupSeq'] = m.groupSeq;
  if (typeof m.replyTo === 'string') send['replyTo'] = m.replyTo;
  if (typeof m.originalDestination === 'string') send['originalDestination'] = m.originalDestination;
  if (m.properties !== undefined) {
    if (!Array.isArray(m.properties)) throw usageError(`${where}: "properties" must be a list of {"name", "type", "value"}`);
    const properties: Record<string, { type: string; value: unknown } | null> = {};
    for (const p of m.properties as unknown[]) {
      const { name, type, value } = (p ?? {}) as { name?: unknown; type?: unknown; value?: unknown };
      if (typeof name !== 'string' || typeof type !== 'string' || (type !== 'null' && !propertyTypes.has(type))) {
        throw usageError(`${where}: a property needs a name and one of the types ${[...propertyTypes].join(', ')} or null`);
      }
      // a property set to null has no type to check a value against
      properties[name] = type === 'null' ? null : { type, value };
    }
    send['properties'] = properties;
  }
  return send;
}

export function importMessages(argv: readonly string[]): Promise<number> {
  return managementCommand(async () => {
    const { values, positionals } = parseManagement(argv, {}, 'ferry import DESTINATION [FILE]', 2);
    if (values.help === true) {
      process.stdout.write(`${importHelp}\n${managementHelp}`);
      return 0;
    }
    const target = positionals[0];
    if (target === undefined) throw usageError('name the destination to import into: ferry import DESTINATION [FILE]');
    const destination = destinationUri(target);
    const file = positionals[1];
    const api = await ManagementApi.open(values);
    const input = file === undefined || file === '-' ? process.stdin : createReadStream(file);
    const opened = new Promise<void>((resolve, reject) => {
      if (input === process.stdin) resolve();
      else input.once('open', () => resolve()).once('error', (err: Error) => reject(usageError(`cannot read ${file}: ${err.message}`)));
    });
    await opened;
    const path = `/api/v1/destinations/${destination.kind}/${segment(destination.name)}/messages`;
    let sent = 0;
    let expired = 0;
    let number = 0;
    try {
      for await (const text of createInterface({ input, crlfDelay: Infinity })) {
        number++;
        if (text.trim() === '') continue;
        const where = `${file ?? 'standard input'} line ${number}`;
        let line: unknown;
        try {
          line = JSON.parse(text);
        } catch (err) {
          throw usageError(`${where}: not JSON (${(err as Error).message})`);
        }
        const body = sendBodyOf(line, where, Date.now());
        if (body === 'expired') {
          expired++;
          continue;
        }
        await api.post(path, body);
        sent++;
      }
    } catch (err) {
      // run again on the whole file, they would be sent twice: say where to start from
      if (sent > 0) process.stderr.write(`imported ${plural(sent, 'message')} into ${destination.uri} from the lines before line ${number}, and stopped there:\n`);
      throw err;
    }
    process.stderr.write(`imported ${plural(sent, 'message')} into ${destination.uri}${expired > 0 ? `; skipped ${expired} already expired` : ''}\n`);
    if (values.json === true) process.stdout.write(`${JSON.stringify({ imported: sent, expired })}\n`);
    return 0;
  });
}
