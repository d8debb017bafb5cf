import type { Broker } from '../../core/index.js';
import type { ConnectionFigures, ConsumerFigures, ProducerFigures, SessionFigures } from '../../core/admin.js';
import { destinationUri } from './messages.js';

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

export function listConnections(broker: Broker): { items: Record<string, unknown>[] } {
  return { items: broker.admin.connectionList().sort((a, b) => a.connectedAt - b.connectedAt || (a.id < b.id ? -1 : 1)).map(connectionView) };
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

export function listConsumers(broker: Broker): { items: Record<string, unknown>[] } {
  return { items: broker.admin.consumerList().map(consumerView) };
}

export function listProducers(broker: Broker): { items: Record<string, unknown>[] } {
  return { items: broker.admin.producerList().map(producerView) };
}
