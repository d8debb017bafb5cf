import { FerryError } from '../../errors.js';
import type { Broker } from '../../core/index.js';
import type { DestinationFigures, DestinationKey } from '../../core/admin.js';

export const DESTINATION_COLUMNS = ['kind', 'name', 'depth', 'inFlight', 'enqueued', 'dequeued', 'expired', 'deadLettered', 'consumers', 'producers', 'paused', 'temporary'] as const;
export type DestinationColumn = (typeof DESTINATION_COLUMNS)[number];

export const MAX_LIMIT = 1000;

export interface DestinationQuery {
  readonly kind: 'queue' | 'topic' | undefined;
  readonly filter: string | undefined;
  /** Only dead-letter queues (true), or only the others (false). */
  readonly deadLetter: boolean | undefined;
  readonly sort: DestinationColumn;
  readonly order: 'asc' | 'desc';
  readonly offset: number;
  readonly limit: number;
}

/** `*` any run of characters, `?` one; everything else literal; case-sensitive, like destination names. */
export function globPattern(glob: string): RegExp {
  const source = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`);
}

/** A non-negative whole number from the query, or FERRY_BAD_REQUEST. */
export function queryInt(query: URLSearchParams, name: string, otherwise: number, max = Number.MAX_SAFE_INTEGER): number {
  const text = query.get(name);
  if (text === null || text === '') return otherwise;
  if (!/^\d+$/.test(text)) throw new FerryError('FERRY_BAD_REQUEST', `${name} must be a whole number of 0 or more, got "${text}"`);
  const n = Number(text);
  if (n > max) throw new FerryError('FERRY_BAD_REQUEST', `${name} must be at most ${max}, got ${n}`);
  return n;
}

export function destinationQuery(query: URLSearchParams): DestinationQuery {
  const kind = query.get('kind') ?? undefined;
  if (kind !== undefined && kind !== 'queue' && kind !== 'topic') throw new FerryError('FERRY_BAD_REQUEST', `kind must be queue or topic, got "${kind}"`);
  const sort = query.get('sort') ?? 'name';
  if (!(DESTINATION_COLUMNS as readonly string[]).includes(sort)) throw new FerryError('FERRY_BAD_REQUEST', `sort must be one of ${DESTINATION_COLUMNS.join(', ')}, got "${sort}"`);
  const order = query.get('order') ?? 'asc';
  if (order !== 'asc' && order !== 'desc') throw new FerryError('FERRY_BAD_REQUEST', `order must be asc or desc, got "${order}"`);
  const filter = query.get('filter') ?? undefined;
  const deadLetter = query.get('deadLetter') ?? undefined;
  if (deadLetter !== undefined && deadLetter !== 'true' && deadLetter !== 'false') throw new FerryError('FERRY_BAD_REQUEST', `deadLetter must be true or false, got "${deadLetter}"`);
  return { kind, filter: filter === '' ? undefined : filter, deadLetter: deadLetter === undefined ? undefined : deadLetter === 'true', sort: sort as DestinationColumn, order, offset: queryInt(query, 'offset', 0), limit: queryInt(query, 'limit', 50, MAX_LIMIT) };
}

function compare(a: DestinationFigures, b: DestinationFigures, column: DestinationColumn): number {
  const x = a[column];
  const y = b[column];
  if (typeof x === 'string' && typeof y === 'string') return x < y ? -1 : x > y ? 1 : 0;
  return Number(x) - Number(y);
}

/** GET /api/v1/destinations: filtered, sorted and paged on the server, so 10,000 queues cost one page. */
export function listDestinations(broker: Broker, q: DestinationQuery): { total: number; offset: number; limit: number; items: DestinationFigures[] } {
  const admin = broker.admin;
  let keys = admin.destinationKeys();
  if (q.kind !== undefined) keys = keys.filter((d) => d.kind === q.kind);
  if (q.filter !== undefined) {
    const pattern = globPattern(q.filter);
    keys = keys.filter((d) => pattern.test(d.name));
  }
  if (q.deadLetter !== undefined) keys = keys.filter((d) => (d.kind === 'queue' && admin.isDeadLetterQueue(d.name)) === q.deadLetter);
  const sign = q.order === 'asc' ? 1 : -1;
  const byKey = (a: DestinationKey, b: DestinationKey): number => compareText(a.kind, b.kind) || compareText(a.name, b.name);
  const page = (list: DestinationFigures[]) => ({ total: keys.length, offset: q.offset, limit: q.limit, items: list });
  if (q.sort === 'name' || q.sort === 'kind') {
    // sorted by what the keys hold: figures are made for the page alone
    const column = q.sort;
    keys.sort((a, b) => sign * compareText(a[column], b[column]) || byKey(a, b));
    return page(admin.figuresOf(keys.slice(q.offset, q.offset + q.limit)));
  }
  const items = admin.figuresOf(keys);
  // ties are broken by kind and name, so pages never overlap
  items.sort((a, b) => sign * compare(a, b, q.sort) || byKey(a, b));
  return page(items.slice(q.offset, q.offset + q.limit));
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function destinationKind(text: string | undefined): 'queue' | 'topic' {
  if (text !== 'queue' && text !== 'topic') throw new FerryError('FERRY_BAD_REQUEST', `a destination kind is queue or topic, got "${text ?? ''}"`);
  return text;
}
