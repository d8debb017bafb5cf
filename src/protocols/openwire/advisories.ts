import type { Destination } from '../../core/index.js';
import { T, type ConnectionId, type DestinationInfo } from './commands.js';
import { toWireDestination } from './mapping.js';

/** The advisory topics ActiveMQ's client watches for temporary destinations (`watchTopicAdvisories`). */
export const TEMP_ADVISORY_TOPICS: ReadonlySet<string> = new Set(['ActiveMQ.Advisory.TempQueue', 'ActiveMQ.Advisory.TempTopic']);

export function advisoryTopicOf(destination: Destination): string {
  return destination.kind === 'queue' ? 'ActiveMQ.Advisory.TempQueue' : 'ActiveMQ.Advisory.TempTopic';
}

/** A connection with an advisory consumer: it is told of temporary destinations as they come and go. */
export interface AdvisoryListener {
  advise(info: DestinationInfo, topic: string): void;
}

export function destinationInfo(destination: Destination, owner: ConnectionId | null, added: boolean): DestinationInfo {
  return {
    type: T.DESTINATION_INFO,
    commandId: 0,
    responseRequired: false,
    connectionId: owner,
    destination: toWireDestination(destination),
    operationType: added ? 0 : 1,
    timeout: 0,
    brokerPath: null,
  };
}

/**
 * The temporary destinations JMS clients have created, for every OpenWire connection of the broker.
 * ActiveMQ's client refuses to send to a temporary destination it has not heard of through these
 * advisories ("Cannot publish to a deleted Destination"), so a reply to another client's temporary
 * queue needs them.
 */
export class TemporaryDestinationAdvisories {
  private readonly known = new Map<string, { destination: Destination; owner: ConnectionId | null }>();
  private readonly listeners = new Set<AdvisoryListener>();

  added(destination: Destination, owner: ConnectionId | null): void {
    const key = `${destination.kind}:${destination.name}`;
    if (this.known.has(key)) return;
    this.known.set(key, { destination, owner });
    const info = destinationInfo(destination, owner, true);
    for (const listener of this.listeners) listener.advise(info, advisoryTopicOf(destination));
  }

  removed(destination: Destination): void {
    const key = `${destination.kind}:${destination.name}`;
    const entry = this.known.get(key);
    if (entry === undefined) return;
    this.known.delete(key);
    const info = destinationInfo(destination, entry.owner, false);
    for (const listener of this.listeners) listener.advise(info, advisoryTopicOf(destination));
  }

  /** Starts telling `listener`, beginning with every temporary destination that exists now. */
  listen(listener: AdvisoryListener): void {
    this.listeners.add(listener);
    for (const { destination, owner } of this.known.values()) listener.advise(destinationInfo(destination, owner, true), advisoryTopicOf(destination));
  }

  unlisten(listener: AdvisoryListener): void {
    this.listeners.delete(listener);
  }
}
