import type { PropertyValue } from './message.js';

/**
 * RabbitMQ's `x-death` header: how often, where and why a message was dead-lettered, which
 * applications that retry through a dead-letter exchange read to count their attempts. One entry
 * per queue and reason, the latest first; a death where there was one before counts up that entry
 * and moves it to the front.
 *
 * Core's properties are flat, so the list is kept as its JSON text under `x-death` (as a nested
 * AMQP 0-9-1 header from a publisher is kept), which the 0-9-1 mapping turns back into an array of
 * tables; other protocols read the JSON.
 */
export const DEATH_HISTORY = 'x-death';

export interface Death {
  readonly queue: string;
  readonly reason: string;
  readonly count: number;
  /** ms since the epoch of the latest death. */
  readonly time: number;
  readonly exchange: string;
  readonly 'routing-keys': readonly string[];
}

/** The history `kept` (the property as it is, if any) with one more death added. */
export function withDeath(kept: PropertyValue | undefined, death: Omit<Death, 'count'>): string {
  const history = readDeaths(kept);
  const at = history.findIndex((d) => d.queue === death.queue && d.reason === death.reason);
  const count = at < 0 ? 1 : history[at]!.count + 1;
  if (at >= 0) history.splice(at, 1);
  return JSON.stringify([{ ...death, count }, ...history]);
}

/**
 * RabbitMQ's rule against dead-letter cycles: a message dead-lettered towards `queue` is dropped
 * there when `queue` is already in its history (`deaths`, the latest first, this death included)
 * and no death since its latest one there, that one included, was a rejection. Such a cycle (by
 * expiry or overflow) would go round for ever with no client taking part; a rejection is a
 * client's choice, and a retry loop through a dead-letter exchange depends on it.
 */
export function isDeathCycle(queue: string, deaths: readonly Death[]): boolean {
  const at = deaths.findIndex((d) => d.queue === queue);
  if (at < 0) return false;
  for (let i = 0; i <= at; i++) if (deaths[i]!.reason === 'rejected') return false;
  return true;
}

/**
 * The deaths in an `x-death` property; an entry that is not one (a publisher may send any header
 * by that name) is left out. Counts and times come as numbers or as the text of a 64-bit integer.
 */
export function readDeaths(kept: PropertyValue | undefined): Death[] {
  if (typeof kept !== 'string') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(kept);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  const deaths: Death[] = [];
  for (const entry of parsed as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const e = entry as Record<string, unknown>;
    const count = Number(e['count']);
    const time = Number(e['time'] ?? 0);
    const keys = e['routing-keys'];
    if (typeof e['queue'] !== 'string' || typeof e['reason'] !== 'string' || !Number.isSafeInteger(count) || count < 1 || !Number.isFinite(time)) continue;
    deaths.push({
      queue: e['queue'],
      reason: e['reason'],
      count,
      time,
      exchange: typeof e['exchange'] === 'string' ? e['exchange'] : '',
      'routing-keys': Array.isArray(keys) ? keys.filter((k): k is string => typeof k === 'string') : [],
    });
  }
  return deaths;
}
