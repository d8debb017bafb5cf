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

/**
 * The value of a DN's first RDN with RFC 4514's escapes undone, as `admins` of
 * `cn=admins,ou=groups,dc=example,dc=com`; undefined when the DN has none. Of a multi-valued RDN
 * (`cn=a+ou=b`) it is the first value's.
 */
export function firstRdnValue(dn: string): string | undefined {
  const equals = dn.indexOf('=');
  if (equals <= 0) return undefined;
  const bytes: number[] = [];
  const text = Buffer.from(dn.slice(equals + 1), 'utf8');
  for (let i = 0; i < text.length; i++) {
    const byte = text[i]!;
    if (byte === 0x2c || byte === 0x2b) break; // an unescaped `,` or `+` ends the value
    if (byte !== 0x5c) {
      bytes.push(byte);
      continue;
    }
    const pair = text.subarray(i + 1, i + 3).toString('latin1');
    if (/^[0-9a-fA-F]{2}$/.test(pair)) {
      // a hex pair is one byte of the value's UTF-8
      bytes.push(parseInt(pair, 16));
      i += 2;
    } else if (i + 1 < text.length) {
      bytes.push(text[i + 1]!);
      i += 1;
    }
  }
  const value = Buffer.from(bytes).toString('utf8').trim();
  return value === '' ? undefined : value;
}

/** A DN in the form two spellings of one entry share, near enough to tell a group already followed. */
export function dnKey(dn: string): string {
  return dn
    .split(/(?<!\\),/)
    .map((rdn) => rdn.trim().replace(/\s*=\s*/, '='))
    .join(',')
    .toLowerCase();
}
