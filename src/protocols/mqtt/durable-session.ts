import { isFerryError } from '../../errors.js';
import type { CoreConnection, DurableSubscriptionInfo } from '../../core/index.js';
import type { QoS } from './mapping.js';

/**
 * What core keeps of a persistent MQTT session, by client id: its durable subscriptions (one per
 * filter and Ferry pattern), the PUBRELs it owes, and the QoS 2 packet ids it has taken (kept as
 * producer ids with their messages). Each durable subscription is named by its filter and which of
 * the filter's Ferry patterns it is; its granted QoS and options are the protocol's note in its
 * record.
 */

/** The kind under which core keeps, per client id, the packet ids of the PUBRELs a session owes. */
const PUBREL_OWED = 'mqtt-pubrel';
/** The kind under which core keeps, per client id, the session's expiry interval in seconds (one id). */
const SESSION_EXPIRY = 'mqtt-session-expiry';

/** A durable subscription as MQTT restores it. */
export interface DurableFilter {
  readonly filter: string;
  /** Which of the filter's Ferry patterns (`a/#` has two: `a` and `a.>`). */
  readonly part: number;
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly rap: boolean;
  readonly subscriptionId: number | undefined;
}

/** The name of one pattern's durable subscription: `0|sensors/#`, `1|sensors/#`. */
export function durableName(filter: string, part: number): string {
  return `${part}|${filter}`;
}

/** The options kept in the subscription's record. */
export function durableData(d: Omit<DurableFilter, 'filter' | 'part'>): string {
  return JSON.stringify({ qos: d.qos, noLocal: d.noLocal, rap: d.rap, ...(d.subscriptionId === undefined ? {} : { subscriptionId: d.subscriptionId }) });
}

/** Reads back a durable subscription this adapter made; undefined for one it did not. */
export function readDurable(info: DurableSubscriptionInfo): DurableFilter | undefined {
  if (info.adapterData === undefined) return readLegacyName(info.name);
  const bar = info.name.indexOf('|');
  const part = Number(info.name.slice(0, bar));
  if (bar < 0 || (part !== 0 && part !== 1)) return undefined;
  try {
    const data = JSON.parse(info.adapterData) as { qos?: unknown; noLocal?: unknown; rap?: unknown; subscriptionId?: unknown };
    if (data.qos !== 0 && data.qos !== 1 && data.qos !== 2) return undefined;
    const subscriptionId = typeof data.subscriptionId === 'number' ? data.subscriptionId : undefined;
    return { filter: info.name.slice(bar + 1), part, qos: data.qos, noLocal: data.noLocal === true, rap: data.rap === true, subscriptionId };
  } catch {
    return undefined;
  }
}

/**
 * Subscriptions stored before options had a field of their own carried them in the name:
 * `1|a/b`, `2nr7p|sensors/#` (QoS, no-local, retain-as-published, subscription id, second pattern).
 */
function readLegacyName(name: string): DurableFilter | undefined {
  const bar = name.indexOf('|');
  const m = /^([012])(n?)(r?)(\d*)(p?)$/.exec(name.slice(0, bar));
  if (bar < 0 || m === null) return undefined;
  return { filter: name.slice(bar + 1), part: m[5] === 'p' ? 1 : 0, qos: Number(m[1]) as QoS, noLocal: m[2] === 'n', rap: m[3] === 'r', subscriptionId: m[4] === '' ? undefined : Number(m[4]) };
}

/**
 * The session's durable subscriptions: those its client id owns that MQTT made. A JMS or STOMP
 * client may keep durable subscriptions under the same client id, and they are not the session's.
 */
export function durableSubscriptionsOf(core: CoreConnection, clientId?: string): DurableSubscriptionInfo[] {
  return core.durableSubscriptions(clientId).filter((d) => readDurable(d) !== undefined);
}

/**
 * Removes one durable subscription of the session, as its subscriber (an unsubscribe, a
 * subscription replaced, a clean start need no more right than subscribing did); one already
 * gone is no error.
 */
export function dropDurable(core: CoreConnection, name: string): void {
  try {
    core.deleteDurableSubscription(name, undefined, true);
  } catch (err) {
    if (!isFerryError(err, 'FERRY_CONSUMER_NOT_FOUND')) throw err;
  }
}

/** Removes the durable subscriptions of `clientId` that no connection holds; `failed` hears of each that could not go. */
export function dropInactiveDurables(core: CoreConnection, clientId: string, failed: (err: unknown) => void): void {
  for (const d of durableSubscriptionsOf(core, clientId)) {
    if (d.active) continue;
    try {
      core.deleteDurableSubscription(d.name, clientId, true);
    } catch (err) {
      failed(err);
    }
  }
}

export function owedPubrels(core: CoreConnection): string[] {
  return core.sessionIds(PUBREL_OWED);
}

export function rememberOwedPubrel(core: CoreConnection, packetId: number): void {
  core.rememberSessionId(PUBREL_OWED, String(packetId));
}

export function forgetOwedPubrel(core: CoreConnection, packetId: number): void {
  core.forgetSessionId(PUBREL_OWED, String(packetId));
}

/** Forgets the PUBRELs owed and the expiry interval a session kept (the connection's own client id unless another is named). */
export function forgetSessionKept(core: CoreConnection, clientId?: string): void {
  core.forgetSessionIds([PUBREL_OWED, SESSION_EXPIRY], clientId);
}

/** Keeps the session's expiry interval with it, so that a broker restarted meanwhile still ends it. */
export function keepSessionExpiry(core: CoreConnection, seconds: number): void {
  const kept = core.sessionIds(SESSION_EXPIRY);
  if (kept.length === 1 && kept[0] === String(seconds)) return;
  core.forgetSessionIds([SESSION_EXPIRY]);
  core.rememberSessionId(SESSION_EXPIRY, String(seconds));
}

/** The client ids whose sessions kept an expiry interval: every persistent session. */
export function keptSessionOwners(core: CoreConnection): string[] {
  return core.sessionIdOwners(SESSION_EXPIRY);
}

/** The expiry interval kept for `clientId`'s session, in seconds; undefined when none was (a session from before it was kept). */
export function keptSessionExpiry(core: CoreConnection, clientId: string): number | undefined {
  const kept = core.sessionIds(SESSION_EXPIRY, clientId)[0];
  return kept === undefined ? undefined : Number(kept);
}

/** True when a QoS 2 publish under this packet id was taken and its PUBREL has not come. */
export function holdsQos2Id(core: CoreConnection, producerId: string): boolean {
  return core.holdsProducerId(producerId);
}

/** True when the session holds a QoS 2 packet id whose PUBREL has not come: state the session keeps [MQTT-3.2.2-2]. */
export function holdsAnyQos2Id(core: CoreConnection): boolean {
  return core.heldProducerIds().length > 0;
}

export function forgetQos2Id(core: CoreConnection, producerId: string): boolean {
  return core.forgetProducerId(producerId);
}
