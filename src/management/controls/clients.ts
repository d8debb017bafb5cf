import type { Broker } from '../../core/index.js';
import type { ConnectionFigures, ConsumerFigures, ProducerFigures } from '../../core/admin.js';
import { destinationUri } from './messages.js';

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function connectionView(c: ConnectionFigures): Record<string, unknown> {
  return { ...c, user: c.user ?? null, clientId: c.clientId ?? null, connectedAt: new Date(c.connectedAt).toISOString(), rateIn: round(c.rateIn), rateOut: round(c.rateOut) };
}

function consumerView(c: ConsumerFigures): Record<string, unknown> {
  return { ...c, destination: destinationUri(c.destination), selector: c.selector ?? null, durableName: c.durableName ?? null };
}

function producerView(p: ProducerFigures): Record<string, unknown> {
  return { ...p, destination: destinationUri(p.destination) };
}

export function listConnections(broker: Broker): { items: Record<string, unknown>[] } {
  return { items: broker.admin.connectionList().sort((a, b) => a.connectedAt - b.connectedAt || (a.id < b.id ? -1 : 1)).map(connectionView) };
}

export function showConnection(broker: Broker, id: string): Record<string, unknown> {
  const c = broker.admin.connection(id);
  return { ...connectionView(c.figures), consumerList: c.consumers.map(consumerView), producerList: c.producers.map(producerView) };
}

export function listConsumers(broker: Broker): { items: Record<string, unknown>[] } {
  return { items: broker.admin.consumerList().map(consumerView) };
}

export function listProducers(broker: Broker): { items: Record<string, unknown>[] } {
  return { items: broker.admin.producerList().map(producerView) };
}
