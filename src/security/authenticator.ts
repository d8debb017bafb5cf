import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { FerryError } from '../errors.js';
import type { Authenticator, ConnectRequest, Logger, Principal, SaslExchange, SaslStep, TransportFacts } from '../core/index.js';
import { CONCURRENT_HASHES, ConcurrencyLimit } from './concurrency-limit.js';
import type { DirectoryUser, UserDirectory } from './directory.js';
import { LoginDelay } from './login-delay.js';
import { hashPassword, parsePasswordHash, verifyPassword } from './passwords.js';
import { VerifiedLogins } from './verified-logins.js';

export interface CertificateRule {
  readonly subject?: string | undefined;
  readonly san?: string | undefined;
  /** The user name, with `$1`... for the expression's groups. */
  readonly user: string;
}

/** Makes the SCRAM-SHA-256 exchange for a user lookup (src/security/scram.ts). */
export type ScramFactory = (credentials: (username: string) => ReturnType<NonNullable<UserDirectory['scramCredentials']>>, secret: Buffer) => SaslExchange;

export interface SecurityAuthenticatorOptions {
  /** Asked in order; the first that knows a user decides. Empty: no users are configured. */
  readonly directories: readonly UserDirectory[];
  /** A user whose groups anonymous clients get (security.anonymous). */
  readonly anonymousUser?: string | undefined;
  readonly certificateRules?: readonly CertificateRule[];
  readonly loginDelay: LoginDelay;
  readonly scram?: ScramFactory | undefined;
  readonly logger: Logger;
  /** Checks a password against the decoy hash; tests count the checks. */
  readonly verifyPassword?: typeof verifyPassword;
}

/**
 * The client's address without the port the transport appends (`10.0.0.5:4711`, `[::1]:4711`):
 * failed logins are counted per address, not per connection.
 */
export function hostOf(address: string): string {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(address);
  if (bracketed !== null) return bracketed[1]!;
  const v4 = /^([^:]+):\d+$/.exec(address);
  return v4 === null ? address : v4[1]!;
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(address: string): boolean {
  const host = hostOf(address);
  const plain = host.startsWith('::ffff:') ? host.slice(7) : host;
  if (isIP(plain) === 4) return plain.startsWith('127.');
  return plain === '::1';
}

const refused = (why: string): FerryError => new FerryError('FERRY_AUTHENTICATION_FAILED', why);

/** The user name whose password a login puts to the test: none for a token, a certificate or no name. */
function guessedName(credentials: ConnectRequest['credentials']): string | undefined {
  if (credentials?.token !== undefined || credentials?.external === true) return undefined;
  const username = credentials?.username;
  return username === undefined || username === '' ? undefined : username;
}

/**
 * Who may connect, for every protocol: users and groups from the directories (the users file,
 * LDAP), verified client certificates, and anonymous clients by the rules of `security.anonymous`.
 * A refusal is FERRY_AUTHENTICATION_FAILED and never says whether the user exists.
 */
export class SecurityAuthenticator implements Authenticator {
  private readonly rules: readonly { readonly on: 'subject' | 'san'; readonly pattern: RegExp; readonly user: string }[];
  /** Exchanges this authenticator made and saw through, with whom each proved. */
  private readonly proved = new WeakMap<SaslExchange, Principal>();
  /** The HMAC key that gives unknown users a stable fake SCRAM salt. */
  private readonly secret = randomBytes(32);
  /**
   * Checked when no directory knows the user, and after LDAP's refusal of a password, so an unknown
   * name costs what a wrong password does wherever the user lives; made on first need.
   */
  private decoy: Promise<ReturnType<typeof parsePasswordHash>> | undefined;
  /** A directory that asks a server (LDAP) waits outside this limit. */
  private readonly hashing = new ConcurrencyLimit(CONCURRENT_HASHES);
  /**
   * Refusals because a directory could not answer (LDAP down or slow): no name or password was
   * judged, so they do not count toward the login delay, which would otherwise slow every login from
   * the address, users-file users' included, through an outage and after it.
   */
  private readonly unanswered = new WeakSet<object>();
  private readonly verified = new VerifiedLogins();

  constructor(private readonly options: SecurityAuthenticatorOptions) {
    this.rules = (options.certificateRules ?? []).map((r) => ({ on: r.subject !== undefined ? 'subject' : 'san', pattern: new RegExp(r.subject ?? r.san!), user: r.user }) as const);
  }

  /** True when users come from somewhere: anonymous clients are then refused unless security.anonymous says otherwise. */
  get usersConfigured(): boolean {
    return this.options.directories.length > 0;
  }

  mechanisms(transport: TransportFacts): readonly string[] {
    const offered: string[] = [];
    if (this.options.scram !== undefined && this.options.directories.some((d) => d.scramCredentials !== undefined)) offered.push('SCRAM-SHA-256');
    if (transport.peerCertificate !== undefined && this.rules.length > 0) offered.push('EXTERNAL');
    offered.push('PLAIN');
    if (this.anonymousAllowed(transport.remoteAddress)) offered.push('ANONYMOUS');
    return offered;
  }

  startExchange(mechanism: string, transport: TransportFacts): SaslExchange | undefined {
    if (!this.mechanisms(transport).includes(mechanism)) return undefined;
    if (mechanism === 'SCRAM-SHA-256') return this.scramExchange(transport);
    return this.oneStepExchange(mechanism, transport);
  }

  async authenticate(request: ConnectRequest): Promise<Principal> {
    const credentials = request.credentials;
    if (credentials?.exchange !== undefined) {
      const principal = this.proved.get(credentials.exchange);
      if (principal === undefined) throw refused('the SASL exchange did not prove a user');
      return principal;
    }
    // the management API's requests each carry the password (see VerifiedLogins)
    const username = credentials?.username;
    const password = credentials?.password;
    const remembered = request.protocol === 'http' && this.usersConfigured && username !== undefined && username !== '' && password !== undefined;
    const generation = this.generation();
    if (remembered) {
      const principal = this.verified.find(username, password, generation);
      if (principal !== undefined) return principal;
    }
    const address = hostOf(request.transport.remoteAddress);
    const guessed = guessedName(credentials);
    const turn = await this.options.loginDelay.turn(address);
    try {
      const principal = await this.decide(request);
      this.succeeded(address, principal, guessed);
      if (remembered) this.verified.keep(username, password, generation, principal);
      return principal;
    } catch (err) {
      // a name that is not the certificate's user, with no password: nothing was guessed
      if (!this.wasUnanswered(err) && !(err instanceof FerryError && err.code === 'FERRY_NOT_AUTHORIZED')) this.options.loginDelay.failed(address, guessed);
      throw err;
    } finally {
      turn.end();
    }
  }

  /**
   * Forgets the failures at the address of the user the login proved, under its own name and under
   * the spelling the client gave (LDAP's `ALICE` proves `alice`), and no other user's.
   */
  private succeeded(address: string, principal: Principal, guessed: string | undefined): void {
    this.options.loginDelay.succeeded(address, principal.username);
    if (guessed !== principal.username) this.options.loginDelay.succeeded(address, guessed);
  }

  /** Changes whenever a directory's users may have (see `UserDirectory.generation`). */
  private generation(): number {
    let sum = 0;
    for (const directory of this.options.directories) sum += directory.generation ?? 0;
    return sum;
  }

  private wasUnanswered(err: unknown): boolean {
    return typeof err === 'object' && err !== null && this.unanswered.has(err);
  }

  /** A directory's answer; a rejection is its not answering at all (the UserDirectory contract). */
  private async ask<T>(question: Promise<T>): Promise<T> {
    try {
      return await question;
    } catch (err) {
      if (typeof err === 'object' && err !== null) this.unanswered.add(err);
      throw err;
    }
  }

  private async decide(request: ConnectRequest): Promise<Principal> {
    const { credentials, transport } = request;
    if (credentials?.token !== undefined) return this.byToken(credentials.token);
    if (credentials?.external === true) return this.byCertificate(transport);
    const username = credentials?.username;
    if (!this.usersConfigured) {
      // no users: the broker trusts loopback clients only, and takes names as given
      if (!isLoopback(transport.remoteAddress)) throw refused(this.remoteAnonymousRefusal(transport.remoteAddress));
      return { username: username === undefined || username === '' ? undefined : username, groups: [], internal: false };
    }
    if (username !== undefined && username !== '') {
      const password = credentials?.password;
      const mapped = password === undefined || password.length === 0 ? await this.certificateUser(transport) : undefined;
      if (mapped !== undefined) {
        // a client that always sends a name (Mosquitto's use_identity_as_username, STOMP's login) with its certificate
        if (mapped.username === username) return mapped;
        throw new FerryError('FERRY_NOT_AUTHORIZED', `the client certificate is user "${String(mapped.username)}", not "${username}"; give that user's password to log in as "${username}"`);
      }
      return this.byPassword(username, password === undefined ? '' : password.toString());
    }
    if (transport.peerCertificate !== undefined && this.rules.length > 0) return this.byCertificate(transport);
    return this.anonymous();
  }

  /** The user a verified certificate maps to, or undefined when it maps to none (the password route then decides). */
  private async certificateUser(transport: TransportFacts): Promise<Principal | undefined> {
    if (transport.peerCertificate === undefined || this.rules.length === 0) return undefined;
    try {
      return await this.byCertificate(transport);
    } catch (err) {
      if (this.wasUnanswered(err)) throw err;
      return undefined;
    }
  }

  private anonymousAllowed(address: string): boolean {
    return this.usersConfigured ? this.options.anonymousUser !== undefined : isLoopback(address);
  }

  private remoteAnonymousRefusal(address: string): string {
    // a client on one of this machine's other addresses is refused too, so the text names the rule, not the machine
    return `no users are configured: only loopback clients (127.0.0.0/8, ::1) may connect, and ${address} is not one: set security.users (see docs/security.md) to let other clients log in`;
  }

  private async anonymous(): Promise<Principal> {
    const name = this.options.anonymousUser;
    if (name === undefined) throw refused('a user name and password are required');
    const user = await this.lookup(name);
    if (user === undefined) throw refused(`the anonymous user "${name}" (security.anonymous) is not a known user`);
    return { username: undefined, groups: user.groups, internal: false };
  }

  private async byPassword(username: string, password: string): Promise<Principal> {
    for (const [index, directory] of this.options.directories.entries()) {
      const verifying = () => this.ask(directory.verify(username, password));
      // a hung LDAP server must not hold the turns that users-file logins need to hash
      const answer = directory.remote === true ? await verifying() : await this.hashing.run(verifying);
      if (answer === 'wrong-password') {
        // a server's refusal takes a round trip, not a hash: without the decoy it would come far
        // sooner than an unknown name's, and tell which names the directory knows
        if (directory.remote === true) await this.checkDecoy(password);
        throw refused('unknown user or wrong password');
      }
      if (answer === undefined) continue;
      if (await this.hiddenBefore(index, answer.name, username)) throw refused('unknown user or wrong password');
      return this.principalOf(answer);
    }
    await this.checkDecoy(password);
    throw refused('unknown user or wrong password');
  }

  private checkDecoy(password: string): Promise<void> {
    return this.hashing.run(async () => {
      this.decoy ??= hashPassword(randomBytes(12).toString('base64')).then((h) => parsePasswordHash(h, 'decoy'));
      await (this.options.verifyPassword ?? verifyPassword)(password, await this.decoy);
    });
  }

  private byToken(token: string): Principal {
    for (const directory of this.options.directories) {
      const user = directory.tokenUser?.(token);
      if (user !== undefined) return this.principalOf(user);
    }
    throw refused('unknown or revoked token');
  }

  private async byCertificate(transport: TransportFacts): Promise<Principal> {
    const certificate = transport.peerCertificate;
    if (certificate === undefined) throw refused('no verified client certificate');
    for (const rule of this.rules) {
      const values = rule.on === 'subject' ? [certificate.subject] : certificate.subjectAltNames;
      for (const value of values) {
        const match = rule.pattern.exec(value);
        if (match === null) continue;
        const name = rule.user.replace(/\$(\d)/g, (_, n: string) => match[Number(n)] ?? '');
        if (!this.usersConfigured) return { username: name, groups: [], internal: false };
        const user = await this.lookup(name);
        if (user === undefined) throw refused(`the certificate's user "${name}" is not a known user`);
        return this.principalOf(user);
      }
    }
    throw refused(`no certificate rule names a user for "${certificate.subject}"`);
  }

  private async lookup(name: string): Promise<DirectoryUser | undefined> {
    for (const [index, directory] of this.options.directories.entries()) {
      const user = await this.ask(directory.lookup(name));
      if (user !== undefined) return (await this.hiddenBefore(index, user.name, name)) ? undefined : user;
    }
    return undefined;
  }

  /**
   * True when a directory asked before `index` knows the user by the name the later one gave it. LDAP
   * answers `ALICE` with its entry `alice`, which a users file's `alice` hides as much as the
   * spelling `alice` itself; the earlier directories were only asked the spelling the client used.
   */
  private async hiddenBefore(index: number, name: string, asked: string): Promise<boolean> {
    if (name === asked) return false;
    for (const directory of this.options.directories.slice(0, index)) {
      if ((await this.ask(directory.lookup(name))) !== undefined) return true;
    }
    return false;
  }

  private principalOf(user: DirectoryUser): Principal {
    return { username: user.name, groups: user.groups, internal: false };
  }

  /** PLAIN, EXTERNAL and ANONYMOUS: the client's one message decides, as a connect's credentials would. */
  private oneStepExchange(mechanism: string, transport: TransportFacts): SaslExchange {
    const self = this;
    let username: string | undefined;
    const exchange: SaslExchange = {
      mechanism,
      get username() {
        return username;
      },
      async respond(message: Buffer): Promise<SaslStep> {
        let request: ConnectRequest;
        if (mechanism === 'PLAIN') {
          // authzid NUL authcid NUL password [RFC 4616]
          const parts = message.toString('utf8').split('\u0000');
          if (parts.length !== 3) throw new FerryError('FERRY_SASL_MALFORMED', 'a PLAIN response is authzid NUL user NUL password');
          if (parts[0] !== '' && parts[0] !== parts[1]) throw refused('acting for another user (an authzid) is not allowed');
          request = { protocol: 'sasl', transport, credentials: { username: parts[1], password: parts[2] } };
        } else if (mechanism === 'EXTERNAL') {
          request = { protocol: 'sasl', transport, credentials: { external: true } };
        } else {
          request = { protocol: 'sasl', transport };
        }
        const principal = await self.authenticate(request);
        if (mechanism === 'EXTERNAL' && message.length > 0 && message.toString('utf8') !== principal.username) {
          throw refused('acting for another user (an authzid) is not allowed');
        }
        username = principal.username;
        self.proved.set(exchange, principal);
        return { done: true, additionalData: undefined };
      },
    };
    return exchange;
  }

  private scramExchange(transport: TransportFacts): SaslExchange {
    // the name of the client-first message, which the exchange looks up before any proof: the name
    // a wrong proof guessed at
    let claimed: string | undefined;
    const lookup = (name: string) => {
      claimed = name;
      for (const directory of this.options.directories) {
        const keys = directory.scramCredentials?.(name);
        if (keys !== undefined) return keys;
      }
      return undefined;
    };
    const inner = this.options.scram!(lookup, this.secret);
    const self = this;
    const address = hostOf(transport.remoteAddress);
    const exchange: SaslExchange = {
      mechanism: inner.mechanism,
      get username() {
        return inner.username;
      },
      async respond(message: Buffer): Promise<SaslStep> {
        // each step takes a turn of its own: one held while the client thinks would let a client
        // that never answers hold its address's logins up
        const turn = await self.options.loginDelay.turn(address);
        let step: SaslStep;
        try {
          step = await inner.respond(message);
          if (step.done) {
            const user = await self.lookup(inner.username!);
            if (user === undefined) throw refused('unknown user or wrong password');
            const principal = self.principalOf(user);
            self.proved.set(exchange, principal);
            self.succeeded(address, principal, claimed);
          }
        } catch (err) {
          if (!self.wasUnanswered(err)) self.options.loginDelay.failed(address, claimed);
          throw err;
        } finally {
          turn.end();
        }
        return step;
      },
    };
    return exchange;
  }
}
