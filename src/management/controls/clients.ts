import { FerryError } from '../../errors.js';
import type { Broker } from '../../core/index.js';
import type { ConnectionFigures, ConsumerFigures, ProducerFigures, SessionFigures } from '../../core/admin.js';
import { destinationUri, parseDestinationUri } from './messages.js';

/** What a client listing may be narrowed to; each given field must match exactly. */
export interface ClientFilter {
  readonly clientId?: string;
  readonly user?: string;
  readonly protocol?: string;
  readonly connection?: string;
  /** `queue://NAME` or `topic://NAME`, as the items show it. */
  readonly destination?: string;
}

/**
 * The filter of a client listing from its query. A parameter the listing does not know is refused:
 * ignored, it would answer every item to a script that believes it filtered.
 */
export function clientFilter(query: URLSearchParams, known: readonly (keyof ClientFilter)[]): ClientFilter {
  const filter: Record<string, string> = {};
  for (const [name, value] of query) {
    if (!(known as readonly string[]).includes(name)) throw new FerryError('FERRY_BAD_REQUEST', `unknown query parameter "${name}": this list is filtered by ${known.join(', ')}`);
    if (name === 'destination') parseDestinationUri(value, 'destination');
    filter[name] = value;
  }
  return filter;
}

/** True when `item` matches every field the filter gives. */
function matches(item: { id?: string; connectionId?: string; clientId?: string | undefined; user?: string | undefined; protocol: string; destination?: string | null }, filter: ClientFilter): boolean {
  return (
    (filter.clientId === undefined || item.clientId === filter.clientId) &&
    (filter.user === undefined || item.user === filter.user) &&
    (filter.protocol === undefined || item.protocol === filter.protocol) &&
    (filter.connection === undefined || (item.connectionId ?? item.id) === filter.connection) &&
    (filter.destination === undefined || item.destination === filter.destination)
  );
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function connectionView(c: ConnectionFigures): Record<string, unknown> {
  return { ...c, user: c.user ?? null, clientId: c.clientId ?? null, connectedAt: new Date(c.connectedAt).toISOString(), rateIn: round(c.rateIn), rateOut: round(c.rateOut) };
}

function sessionView(s: SessionFigures): Record<string, unknown> {
  return { ...s, user: s.user ?? null, clientId: s.clientId ?? null, openedAt: new Date(s.openedAt).toISOString(), rateIn: round(s.rateIn), rateOut: round(s.rateOut) };
}

function consumerView(c: ConsumerFigures): Record<string, unknown> {
  return { ...c, user: c.user ?? null, clientId: c.clientId ?? null, destination: destinationUri(c.destination), selector: c.selector ?? null, durableName: c.durableName ?? null, rate: round(c.rate) };
}

function producerView(p: ProducerFigures): Record<string, unknown> {
  return { ...p, user: p.user ?? null, clientId: p.clientId ?? null, destination: destinationUri(p.destination), rate: round(p.rate) };
}

export function listConnections(broker: Broker, filter: ClientFilter = {}): { items: Record<string, unknown>[] } {
  const connections = broker.admin.connectionList().filter((c) => matches(c, filter));
  return { items: connections.sort((a, b) => a.connectedAt - b.connectedAt || (a.id < b.id ? -1 : 1)).map(connectionView) };
}

export function showConnection(broker: Broker, id: string): Record<string, unknown> {
  const c = broker.admin.connection(id);
  return { ...connectionView(c.figures), sessionList: c.sessions.map(sessionView), consumerList: c.consumers.map(consumerView), producerList: c.producers.map(producerView) };
}

/** Every client session, or those of one connection; in the order their connections opened. */
export function listSessions(broker: Broker, connectionId?: string): { items: Record<string, unknown>[] } {
  const sessions = connectionId === undefined ? broker.admin.sessionList() : broker.admin.connection(connectionId).sessions;
  return { items: sessions.sort((a, b) => a.openedAt - b.openedAt || a.id.localeCompare(b.id, 'en', { numeric: true })).map(sessionView) };
}

export function listConsumers(broker: Broker, filter: ClientFilter = {}): { items: Record<string, unknown>[] } {
  return { items: broker.admin.consumerList().filter((c) => matches({ ...c, destination: destinationUri(c.destination) }, filter)).map(consumerView) };
}

export function listProducers(broker: Broker, filter: ClientFilter = {}): { items: Record<string, unknown>[] } {
  return { items: broker.admin.producerList().filter((p) => matches({ ...p, destination: destinationUri(p.destination) }, filter)).map(producerView) };
}
