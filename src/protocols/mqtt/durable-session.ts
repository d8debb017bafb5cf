import { isFerryError } from '../../errors.js';
import type { Broker, CoreConnection, DurableSubscriptionInfo } from '../../core/index.js';

/**
 * What core keeps of a persistent MQTT session, by client id: its durable subscriptions (one per
 * filter and Ferry pattern), the PUBRELs it owes, and the QoS 2 packet ids it has taken (kept as
 * producer ids with their messages). Every call this folder makes on `Broker` for them is here, in
 * one place, for the move to the core session API.
 */

/** The kind under which core keeps, per client id, the packet ids of the PUBRELs a session owes. */
const PUBREL_OWED = 'mqtt-pubrel';

export function durableSubscriptionsOf(broker: Broker, clientId: string): DurableSubscriptionInfo[] {
  return broker.durableSubscriptionsOf(clientId);
}

/** Removes one durable subscription; one already gone is no error. */
export function dropDurable(broker: Broker, clientId: string, name: string): void {
  try {
    broker.unsubscribeDurable(clientId, name);
  } catch (err) {
    if (!isFerryError(err, 'FERRY_CONSUMER_NOT_FOUND')) throw err;
  }
}

/** Removes the durable subscriptions no connection holds; `failed` hears of each that could not go. */
export function dropInactiveDurables(broker: Broker, clientId: string, failed: (err: unknown) => void): void {
  for (const d of broker.durableSubscriptionsOf(clientId)) {
    if (d.active) continue;
    try {
      broker.unsubscribeDurable(clientId, d.name);
    } catch (err) {
      failed(err);
    }
  }
}

export function owedPubrels(broker: Broker, clientId: string): string[] {
  return broker.sessionIds(clientId, PUBREL_OWED);
}

export function rememberOwedPubrel(broker: Broker, clientId: string, packetId: number): void {
  broker.rememberSessionId(clientId, PUBREL_OWED, String(packetId));
}

export function forgetOwedPubrel(broker: Broker, clientId: string, packetId: number): void {
  broker.forgetSessionId(clientId, PUBREL_OWED, String(packetId));
}

export function forgetOwedPubrels(broker: Broker, clientId: string): void {
  broker.forgetSessionIds(clientId, [PUBREL_OWED]);
}

/** True when a QoS 2 publish under this packet id was taken and its PUBREL has not come. */
export function holdsQos2Id(broker: Broker, core: CoreConnection, producerId: string): boolean {
  return broker.holdsProducerId(core, producerId);
}

export function forgetQos2Id(broker: Broker, core: CoreConnection, producerId: string): boolean {
  return broker.forgetProducerId(core, producerId);
}
