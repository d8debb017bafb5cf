import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Client, InvalidCredentialsError, NoSuchObjectError, type Entry } from 'ldapts';
import type { FerryConfig } from '../config/index.js';
import type { Logger } from '../core/logger.js';
import { FerryError, isFerryError } from '../errors.js';
import { ConcurrencyLimit, TurnTimeout } from './concurrency-limit.js';
import type { DirectoryUser, UserDirectory } from './directory.js';
import { dnKey, fillDn, firstRdnValue, templateAttribute } from './ldap-dn.js';

export type LdapConfig = NonNullable<FerryConfig['security']['ldap']>;

const DEFAULT_USER_FILTER = '(uid={user})';

/**
 * A value put into a search filter, escaped as [RFC 4515] 3 asks: `*`, `(`, `)`, `\` and NUL as
 * `\xx`, so a login name like `*)(uid=*` matches nothing instead of everyone.
 */
export function escapeFilterValue(value: string): string {
  return value.replace(/[*()\\\0]/g, (ch) => `\\${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function fillFilter(template: string, values: Record<string, string>): string {
  return template.replace(/\{(user|dn)\}/g, (whole, key: string) => (key in values ? escapeFilterValue(values[key]!) : whole));
}

/**
 * The attributes that `userFilter` compares with the whole login name, as `uid` in `(uid={user})`:
 * the user's name is the entry's value of the first, whatever spelling the server matched.
 */
function loginAttributes(userFilter: string): string[] {
  return [...userFilter.matchAll(/\(\s*([A-Za-z][\w;.-]*)\s*=\{user\}\)/g)].map((m) => m[1]!);
}

/** A login name as LDAP's usual matching rules (caseIgnoreMatch and its kin) compare it: case folded, outer spaces dropped, inner runs of spaces as one. */
function matchingForm(name: string): string {
  return name.trim().replace(/\s+/g, ' ').toLowerCase();
}

function attributeValues(entry: Entry, attribute: string): string[] {
  // attribute names are case-insensitive; the server answers in the case its schema has
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  if (key === undefined) return [];
  const value = entry[key]!;
  const values = Array.isArray(value) ? value : [value];
  return values.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : v));
}

/** A user's entry: its DN, the user's name, and the group DNs its `userGroupAttribute` holds. */
interface UserEntry {
  readonly dn: string;
  readonly name: string;
  readonly groupDns: readonly string[];
}

/**
 * Users and groups from an LDAP server: the search account (or an anonymous bind) finds the user's
 * entry by `userFilter` under `userBase`, or `userDn` names it outright; a bind as that entry
 * checks the password; the groups are the `groupAttribute` of the entries `groupFilter` finds
 * under `groupBase`, and the first RDN values of the group DNs in the entry's
 * `userGroupAttribute`, followed `nestedGroupDepth` levels up through the groups' own.
 *
 * Each login opens its own connections and closes them: logins are rare next to messages, and a
 * connection per login cannot be left bound as the wrong user.
 */
export class LdapDirectory implements UserDirectory {
  readonly description: string;
  readonly remote = true;
  /** However many clients log in at once, the server sees at most this many logins' connections. */
  private readonly logins: ConcurrencyLimit;
  private readonly loginAttributes: readonly string[];
  private readonly tlsOptions: { ca: Buffer } | undefined;

  /** A relative `ca` is taken from the working directory (the configuration loader makes a file's paths absolute). */
  constructor(
    private readonly config: LdapConfig,
    private readonly logger: Logger,
  ) {
    this.description = `LDAP ${config.url}`;
    this.logins = new ConcurrencyLimit(config.concurrentLogins);
    this.loginAttributes = LdapDirectory.checkUsers(config);
    LdapDirectory.checkGroups(config);
    // [RFC 4513] 5.1.2: a name with an empty password is an unauthenticated bind, which servers that
    // allow it answer as anonymous: the search would quietly run with anonymous rights, not the account's
    if (config.bindDn !== undefined && (config.bindPassword ?? '') === '') {
      throw new FerryError('FERRY_CONFIG_INVALID', `security.ldap.bindPassword: required with bindDn (${config.bindDn}): an empty password is an unauthenticated bind, which searches anonymously; remove bindDn for an anonymous search`);
    }
    if (config.bindPassword !== undefined && config.bindDn === undefined) {
      throw new FerryError('FERRY_CONFIG_INVALID', 'security.ldap.bindPassword: given without bindDn, the account it is the password of');
    }
    if (config.url.startsWith('ldap://') && !config.startTls) {
      logger.warn({ event: 'security.ldap-cleartext', url: config.url }, 'LDAP over ldap:// without startTls: passwords cross the network in the clear; use ldaps:// or startTls');
    }
    if (config.ca === undefined) {
      this.tlsOptions = undefined;
    } else {
      try {
        this.tlsOptions = { ca: readFileSync(config.ca) };
      } catch (err) {
        throw new FerryError('FERRY_CONFIG_INVALID', `security.ldap.ca: cannot read ${config.ca} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
      }
    }
  }

  /** The attributes that name the user, from `userFilter` or `userDn`; a mistake in either stops the start. */
  private static checkUsers(config: LdapConfig): string[] {
    if (config.userDn !== undefined) {
      if (config.userBase !== undefined || config.userFilter !== undefined) {
        throw new FerryError('FERRY_CONFIG_INVALID', `security.ldap.userDn: given with ${config.userBase === undefined ? 'userFilter' : 'userBase'}; userDn binds as the user without a search, userBase and userFilter find the user by one: give one or the other`);
      }
      const attribute = templateAttribute(config.userDn);
      if (attribute === undefined || config.userDn.split('{user}').length !== 2) {
        throw new FerryError('FERRY_CONFIG_INVALID', `security.ldap.userDn: ${config.userDn} must begin with an RDN whose value is the whole login name, as uid={user},ou=people,dc=example,dc=com does, and name {user} once`);
      }
      return [attribute];
    }
    if (config.userBase === undefined) {
      throw new FerryError('FERRY_CONFIG_INVALID', 'security.ldap: neither userBase (where to search for the user) nor userDn (the DN to bind as) is given');
    }
    const filter = config.userFilter ?? DEFAULT_USER_FILTER;
    const attributes = loginAttributes(filter);
    if (attributes.length === 0) {
      throw new FerryError('FERRY_CONFIG_INVALID', `security.ldap.userFilter: ${filter} compares no attribute with the whole login name, as (uid={user}) does; the user's name is taken from that attribute`);
    }
    return attributes;
  }

  private static checkGroups(config: LdapConfig): void {
    if (config.nestedGroupDepth === 0) return;
    if (config.groupBase === undefined && config.userGroupAttribute === undefined) {
      throw new FerryError('FERRY_CONFIG_INVALID', `security.ldap.nestedGroupDepth: ${config.nestedGroupDepth} with no groups to follow; set groupBase or userGroupAttribute`);
    }
    // a group is found in another by its own DN: a filter on the user's name alone cannot say
    if (config.groupBase !== undefined && !config.groupFilter.includes('{dn}')) {
      throw new FerryError('FERRY_CONFIG_INVALID', `security.ldap.nestedGroupDepth: groupFilter ${config.groupFilter} has no {dn}, by which a group is found among another's members`);
    }
  }

  async verify(username: string, password: string): Promise<DirectoryUser | 'wrong-password' | undefined> {
    if (username === '') return undefined;
    const template = this.config.userDn;
    return this.answer('verify', username, async (search) => {
      // with userDn, nothing is asked before the bind: an unknown name and a wrong password are one answer
      const found = template === undefined ? await this.findUser(await search(), username) : undefined;
      if (template === undefined && found === undefined) return undefined;
      // [RFC 4513] 5.1.2: a bind with a name and an empty password is an unauthenticated bind,
      // which many servers accept; it must never count as knowing the password
      if (password === '') return 'wrong-password';
      const userClient = await this.client();
      try {
        try {
          await userClient.bind(found?.dn ?? fillDn(template!, username), password);
        } catch (err) {
          if (err instanceof InvalidCredentialsError) return 'wrong-password';
          throw err;
        }
        if (found !== undefined) return { name: found.name, groups: await this.groups(await search(), found) };
        // the search account reads what it would for this user's certificate, so both give the same
        // groups; without one, the user's own connection does, which may read more than anonymous
        const reader = this.config.bindDn === undefined ? userClient : await search();
        const entry = await this.readUser(reader, fillDn(template!, username), username);
        if (entry === undefined) throw this.unnamed(username, fillDn(template!, username));
        return { name: entry.name, groups: await this.groups(reader, entry) };
      } finally {
        await userClient.unbind().catch(() => undefined);
      }
    });
  }

  async lookup(username: string): Promise<DirectoryUser | undefined> {
    if (username === '') return undefined;
    return this.answer('lookup', username, async (search) => {
      const client = await search();
      const found = this.config.userDn === undefined ? await this.findUser(client, username) : await this.readUser(client, fillDn(this.config.userDn, username), username);
      return found === undefined ? undefined : { name: found.name, groups: await this.groups(client, found) };
    });
  }

  /** A client, upgraded by StartTLS when configured; a failed upgrade rejects before any password is sent. */
  private async client(): Promise<Client> {
    const client = new Client({
      url: this.config.url,
      timeout: this.config.timeout,
      connectTimeout: this.config.timeout,
      // for ldaps:// only: given on an ldap:// client, ldapts spoils the StartTLS handshake
      ...(this.tlsOptions === undefined || !this.config.url.startsWith('ldaps://') ? {} : { tlsOptions: this.tlsOptions }),
    });
    if (this.config.startTls && this.config.url.startsWith('ldap://')) {
      // the certificate is checked against the URL's host, said outright rather than left to Node's
      // fallbacks for an upgraded socket
      const host = new URL(this.config.url).hostname.replace(/^\[|\]$/g, '');
      try {
        await client.startTLS({ ...this.tlsOptions, host, ...(isIP(host) === 0 ? { servername: host } : {}) });
      } catch (err) {
        await client.unbind().catch(() => undefined);
        throw err;
      }
    }
    return client;
  }

  /**
   * Runs one question with a connection bound as the search account. A server that cannot answer
   * (down, slow, refusing the search account) rejects with FERRY_DIRECTORY_UNAVAILABLE, which the
   * client is told in its protocol's terms for "try again later", not as a wrong password; the
   * cause and the server's URL go to the log, not to the client, whom they would tell where the
   * network's directory lives.
   */
  private async answer<T>(operation: string, username: string, work: (search: () => Promise<Client>) => Promise<T>): Promise<T> {
    try {
      // a login that cannot even start within `timeout` gets the answer a slow server gives: without
      // the bound, logins queued behind a hung server would wait many times `timeout`, and a line of
      // clients retrying through an outage would grow without end
      return await this.logins.run(() => this.answerInTurn(operation, username, work), this.config.timeout);
    } catch (err) {
      if (!(err instanceof TurnTimeout)) throw err;
      this.logger.warn({ event: 'security.ldap-unavailable', url: this.config.url, operation, user: username, err: `${err.name}: ${err.message} (security.ldap.concurrentLogins logins were all waiting on the server)` }, 'the LDAP server did not answer; the login is refused');
      throw new FerryError('FERRY_DIRECTORY_UNAVAILABLE', 'the user directory cannot be reached', { cause: err });
    }
  }

  /** `work` gets the search account's connection when it first asks: a userDn login without a search account needs none. */
  private async answerInTurn<T>(operation: string, username: string, work: (search: () => Promise<Client>) => Promise<T>): Promise<T> {
    let search: Client | undefined;
    let bound: Promise<Client> | undefined;
    const searchClient = async (): Promise<Client> => {
      search = await this.client();
      if (this.config.bindDn !== undefined) await search.bind(this.config.bindDn, this.config.bindPassword ?? '');
      return search;
    };
    try {
      return await work(() => (bound ??= searchClient()));
    } catch (err) {
      if (isFerryError(err)) throw err;
      const cause = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      this.logger.warn({ event: 'security.ldap-unavailable', url: this.config.url, operation, user: username, err: cause }, 'the LDAP server did not answer; the login is refused');
      throw new FerryError('FERRY_DIRECTORY_UNAVAILABLE', 'the user directory cannot be reached', { cause: err });
    } finally {
      await search?.unbind().catch(() => undefined);
    }
  }

  /**
   * The user's entry and name. The server matches the login name by the attribute's rules (for
   * `uid`, regardless of case and outer spaces), so `CAROL` and ` carol` find carol's entry: the
   * name is the entry's own value, or each spelling would be a user of its own.
   */
  private async findUser(search: Client, username: string): Promise<UserEntry | undefined> {
    const filter = fillFilter(this.config.userFilter ?? DEFAULT_USER_FILTER, { user: username });
    const { searchEntries } = await search.search(this.config.userBase!, { scope: 'sub', filter, attributes: this.userAttributes() });
    if (searchEntries.length === 0) return undefined;
    if (searchEntries.length > 1) {
      // two entries for one login name: either could be the user, so neither is
      this.logger.warn({ event: 'security.ldap-ambiguous-user', url: this.config.url, user: username, entries: searchEntries.length }, 'more than one LDAP entry matches the login name; the login is refused');
      throw new FerryError('FERRY_AUTHENTICATION_FAILED', 'more than one entry in the user directory matches the user');
    }
    const entry = searchEntries[0]!;
    const found = this.userEntry(entry, username);
    if (found === undefined) throw this.unnamed(username, entry.dn);
    return found;
  }

  /** The entry `userDn` names, read by itself; undefined when the server has no such entry. */
  private async readUser(client: Client, dn: string, username: string): Promise<UserEntry | undefined> {
    const entry = await this.readEntry(client, dn, this.userAttributes());
    if (entry === undefined) return undefined;
    const found = this.userEntry(entry, username);
    if (found === undefined) throw this.unnamed(username, entry.dn);
    return found;
  }

  private userAttributes(): string[] {
    return this.config.userGroupAttribute === undefined ? [...this.loginAttributes] : [...this.loginAttributes, this.config.userGroupAttribute];
  }

  private userEntry(entry: Entry, username: string): UserEntry | undefined {
    const values = this.loginAttributes.map((a) => attributeValues(entry, a)).find((v) => v.length > 0) ?? [];
    // of several values (uid may have more than one), the one the client meant
    const name = values.find((v) => matchingForm(v) === matchingForm(username)) ?? values[0];
    if (name === undefined) return undefined;
    const groupDns = this.config.userGroupAttribute === undefined ? [] : attributeValues(entry, this.config.userGroupAttribute);
    return { dn: entry.dn, name, groupDns };
  }

  private unnamed(username: string, dn: string): FerryError {
    this.logger.warn({ event: 'security.ldap-unnamed-user', url: this.config.url, user: username, dn, attributes: this.loginAttributes }, 'the LDAP entry of the login name has no readable name attribute; the login is refused');
    return new FerryError('FERRY_AUTHENTICATION_FAILED', `the entry in the user directory that matches the user has no ${this.loginAttributes.join(' or ')}`);
  }

  private async readEntry(client: Client, dn: string, attributes: string[]): Promise<Entry | undefined> {
    try {
      const { searchEntries } = await client.search(dn, { scope: 'base', filter: '(objectClass=*)', attributes });
      return searchEntries[0];
    } catch (err) {
      if (err instanceof NoSuchObjectError) return undefined;
      throw err;
    }
  }

  /**
   * The user's groups, then the groups those are in, level by level up to `nestedGroupDepth`. A
   * group already followed is not followed again, so a cycle of groups ends, and each level costs
   * one search under `groupBase` and one read per new group of its `userGroupAttribute`.
   */
  private async groups(client: Client, user: UserEntry): Promise<string[]> {
    const names = new Set<string>();
    const followed = new Set<string>([dnKey(user.dn)]);
    let level = await this.groupsOf(client, [{ dn: user.dn, name: user.name }], user.groupDns, names);
    for (let depth = 0; depth < this.config.nestedGroupDepth; depth++) {
      const members = level.filter((g) => !followed.has(dnKey(g.dn)));
      if (members.length === 0) break;
      for (const member of members) followed.add(dnKey(member.dn));
      const groupDns: string[] = [];
      if (this.config.userGroupAttribute !== undefined) {
        const attribute = this.config.userGroupAttribute;
        const entries = await Promise.all(members.map((m) => this.readEntry(client, m.dn, [attribute])));
        for (const entry of entries) if (entry !== undefined) groupDns.push(...attributeValues(entry, attribute));
      }
      level = await this.groupsOf(client, members, groupDns, names);
    }
    return [...names];
  }

  /** The groups that have any of `members` as a member, found by `groupFilter` and given by DN; their names go into `names`. */
  private async groupsOf(client: Client, members: readonly { dn: string; name: string }[], groupDns: readonly string[], names: Set<string>): Promise<{ dn: string; name: string }[]> {
    const found: { dn: string; name: string }[] = [];
    for (const dn of groupDns) {
      const name = firstRdnValue(dn);
      if (name === undefined) continue;
      names.add(name);
      found.push({ dn, name });
    }
    if (this.config.groupBase !== undefined && members.length > 0) {
      const filters = members.map((m) => fillFilter(this.config.groupFilter, { user: m.name, dn: m.dn }));
      const filter = filters.length === 1 ? filters[0]! : `(|${filters.join('')})`;
      const attribute = this.config.groupAttribute;
      const { searchEntries } = await client.search(this.config.groupBase, { scope: 'sub', filter, attributes: [attribute] });
      for (const entry of searchEntries) {
        const values = attributeValues(entry, attribute);
        for (const value of values) names.add(value);
        found.push({ dn: entry.dn, name: values[0] ?? firstRdnValue(entry.dn) ?? entry.dn });
      }
    }
    return found;
  }
}
