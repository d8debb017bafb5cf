import { FerryError } from '../../errors.js';

/**
 * MQTT topic names and filters <-> Ferry topic names and patterns, as ActiveMQ maps them: `/` and
 * `.` swap places (so both survive the trip), `+` is `*` and `#` is `>`.
 *
 * `*` and `>` are Ferry's wildcards and no Ferry name holds them, but an MQTT topic name may (only
 * `+` and `#` are MQTT's wildcards [MQTT-4.7.1]): they travel behind U+E000, a character of
 * Unicode's private use area, which is itself escaped the same way, so that every name comes back
 * as it went.
 */
const ESCAPE = '\uE000';
const UNESCAPED: Readonly<Record<string, string>> = { s: '*', g: '>', e: ESCAPE };

function toFerryName(name: string): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if (c === '/') out += '.';
    else if (c === '.') out += '/';
    else if (c === '*') out += `${ESCAPE}s`;
    else if (c === '>') out += `${ESCAPE}g`;
    else if (c === ESCAPE) out += `${ESCAPE}e`;
    else out += c;
  }
  return out;
}

function toMqttName(name: string): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    const unescaped = c === ESCAPE ? UNESCAPED[name[i + 1] ?? ''] : undefined;
    if (unescaped !== undefined) {
      out += unescaped;
      i++;
    } else out += c === '/' ? '.' : c === '.' ? '/' : c;
  }
  return out;
}

/**
 * [MQTT-4.7.2] Only the broker publishes under `$SYS`: a client's publish or will there would pass
 * for the broker's own figures (a retained one for good), so it is dropped, as Mosquitto drops it,
 * unless it is a bridge's state (isBridgeStateTopic).
 */
export function isSysTopic(topic: string): boolean {
  return topic === '$SYS' || topic.startsWith('$SYS/');
}

const BRIDGE_STATE = /^\$SYS\/broker\/connection\/[^/]*\/state$/;

/**
 * `$SYS/broker/connection/<id>/state`, where a Mosquitto bridge with `notifications` publishes 1
 * when it connects and has its will publish 0: Mosquitto lets clients publish there, and nowhere
 * else under `$SYS`, so that the central broker shows which bridges are up.
 */
export function isBridgeStateTopic(topic: string): boolean {
  return BRIDGE_STATE.test(topic);
}

/** A topic name a client publishes to, as a Ferry topic; wildcards are refused ([MQTT-3.3.2-2]). */
export function topicToFerry(topic: string): string {
  if (topic.length === 0) throw new FerryError('FERRY_DESTINATION_INVALID', 'the topic name is empty');
  if (/[+#\u0000]/.test(topic)) throw new FerryError('FERRY_DESTINATION_INVALID', `a topic name may not contain wildcards: "${topic}"`);
  return toFerryName(topic);
}

/** A Ferry topic name as the MQTT topic name a subscriber sees. */
export function topicFromFerry(name: string): string {
  return toMqttName(name);
}

export interface ParsedFilter {
  /** The filter without its `$share/{group}/` prefix. */
  readonly filter: string;
  readonly shareName: string | undefined;
  /**
   * The Ferry patterns that together match what the filter matches: `a/#` matches `a` itself as
   * well as everything below it ([MQTT-4.7.1-2]), and Ferry's `a.>` only the latter, so it is two,
   * the second (`a`) the parent level that the trailing `#` brings in.
   */
  readonly patterns: readonly string[];
}

/** Validates a topic filter ([MQTT-4.7.1-2], [MQTT-4.7.1-3]) and maps it to Ferry patterns. */
export function parseFilter(value: string): ParsedFilter {
  let filter = value;
  let shareName: string | undefined;
  if (value.startsWith('$share/')) {
    const slash = value.indexOf('/', 7);
    shareName = slash < 0 ? '' : value.slice(7, slash);
    if (slash < 0 || shareName.length === 0 || /[+#]/.test(shareName)) {
      throw new FerryError('FERRY_DESTINATION_INVALID', `a shared subscription is $share/{name}/{filter}: "${value}"`);
    }
    filter = value.slice(slash + 1);
  }
  if (filter.length === 0) throw new FerryError('FERRY_DESTINATION_INVALID', 'the topic filter is empty');
  if (filter.includes('\u0000')) throw new FerryError('FERRY_DESTINATION_INVALID', 'a topic filter may not contain U+0000');
  const levels = filter.split('/');
  const mapped: string[] = [];
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level === '#') {
      if (i !== levels.length - 1) throw new FerryError('FERRY_DESTINATION_INVALID', `"#" must be the last level of a filter: "${filter}"`);
      mapped.push('>');
    } else if (level === '+') mapped.push('*');
    else if (/[+#]/.test(level)) throw new FerryError('FERRY_DESTINATION_INVALID', `a wildcard must be a whole level: "${filter}"`);
    else mapped.push(toFerryName(level));
  }
  const patterns = [mapped.join('.')];
  // `/#` is `.>` alone: its parent level is the empty topic name, which no publish can have
  const parent = mapped.slice(0, -1).join('.');
  if (mapped.length > 1 && mapped[mapped.length - 1] === '>' && parent !== '') patterns.push(parent);
  return { filter, shareName, patterns };
}
