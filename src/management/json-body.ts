/**
 * A text body is parsed as JSON only up to these: V8 parses any nesting, but `JSON.stringify`
 * overflows the stack past a few thousand levels (a 10 KB body of `[` then `]`), pretty-printing
 * deep nesting makes megabytes of indentation, and a large document would go out twice, as text and
 * as its tree. Past them a body is text alone. The management API and the console both use this,
 * so the console never parses what the broker left out.
 */
export const JSON_BODY_MAX_DEPTH = 64;
export const JSON_BODY_MAX_CHARS = 1024 * 1024;

/** True when `text`, read as JSON, nests arrays and objects no deeper than `max`; linear, with no recursion. */
function nestsAtMost(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return false;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return true;
}

/** The body's JSON tree, or undefined when it is not JSON or is past the bounds above. */
export function modestJson(text: string): unknown {
  if (text.length > JSON_BODY_MAX_CHARS || !nestsAtMost(text, JSON_BODY_MAX_DEPTH)) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
