import { FerryError } from '../../errors.js';

/**
 * MQTT topic names and filters <-> Ferry topic names and patterns, as ActiveMQ maps them: `/` and
 * `.` swap places (so both survive the trip), `+` is `*` and `#` is `>`.
 */

function swapSeparators(name: string): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    out += c === '/' ? '.' : c === '.' ? '/' : c;
  }
  return out;
}

/** A topic name a client publishes to, as a Ferry topic; wildcards are refused ([MQTT-3.3.2-2]). */
export function topicToFerry(topic: string): string {
  if (topic.length === 0) throw new FerryError('FERRY_DESTINATION_INVALID', 'the topic name is empty');
  if (/[+#\u0000]/.test(topic)) throw new FerryError('FERRY_DESTINATION_INVALID', `a topic name may not contain wildcards: "${topic}"`);
  // `*` and `>` are Ferry's wildcards: a topic name that contains them cannot be a Ferry name
  if (/[*>]/.test(topic)) throw new FerryError('FERRY_DESTINATION_INVALID', `Ferry topic names cannot contain "*" or ">": "${topic}"`);
  return swapSeparators(topic);
}

/** A Ferry topic name as the MQTT topic name a subscriber sees. */
export function topicFromFerry(name: string): string {
  return swapSeparators(name);
}

export interface ParsedFilter {
  /** The filter without its `$share/{group}/` prefix. */
  readonly filter: string;
  readonly shareName: string | undefined;
  /**
   * The Ferry patterns that together match what the filter matches: `a/#` matches `a` itself as
   * well as everything below it ([MQTT-4.7.1-2]), and Ferry's `a.>` only the latter, so it is two.
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
    else if (/[*>]/.test(level)) throw new FerryError('FERRY_DESTINATION_INVALID', `Ferry topic names cannot contain "*" or ">": "${filter}"`);
    else mapped.push(swapSeparators(level));
  }
  const patterns = [mapped.join('.')];
  if (mapped.length > 1 && mapped[mapped.length - 1] === '>') patterns.push(mapped.slice(0, -1).join('.'));
  return { filter, shareName, patterns };
}
