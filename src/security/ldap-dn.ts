/**
 * A value put into a DN, escaped as [RFC 4514] 2.4 asks: `"`, `+`, `,`, `;`, `<`, `>`, `\` (and
 * `=`, which it allows) behind a backslash, NUL as `\00`, a leading space or `#` and a trailing
 * space behind a backslash; so a login name like `bob,ou=admins` names one entry's value, not
 * another entry.
 */
export function escapeDnValue(value: string): string {
  let escaped = value.replace(/[\\"+,;<>=\0]/g, (ch) => (ch === '\0' ? '\\00' : `\\${ch}`));
  if (escaped.startsWith(' ') || escaped.startsWith('#')) escaped = `\\${escaped}`;
  if (escaped.endsWith(' ') && !escaped.endsWith('\\ ')) escaped = `${escaped.slice(0, -1)}\\ `;
  return escaped;
}

/**
 * The attribute of a DN template's first RDN when its value is the whole `{user}`, as `uid` in
 * `uid={user},ou=people,dc=example,dc=com`; undefined for any other template.
 */
export function templateAttribute(template: string): string | undefined {
  return /^\s*([A-Za-z][\w;.-]*)\s*=\s*\{user\}\s*(?:,|$)/.exec(template)?.[1];
}

export function fillDn(template: string, user: string): string {
  return template.replace('{user}', () => escapeDnValue(user));
}
