import { X509Certificate } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import type { Socket } from 'node:net';
import { basename, dirname } from 'node:path';
import { DEFAULT_CIPHERS, createSecureContext, type SecureContextOptions, type Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import type { Logger, PeerCertificate } from '../core/index.js';
import { addressWithPort } from './connection.js';
import { revocationLists, type RevocationList } from './crl.js';

export interface TlsFiles {
  /** PEM: the server's certificate chain. */
  readonly cert: string;
  /** PEM: its private key. */
  readonly key: string;
  /** PEM: the authorities client certificates are verified against. */
  readonly ca?: string | undefined;
  /** PEM: certificate revocation lists, one or more; a revoked client certificate does not verify. */
  readonly crl?: string | undefined;
  /** Ask clients for a certificate; without `requireCert` a client without one is just not identified by it. */
  readonly requestCert: boolean;
  /** Refuse, on the protocol and wss listeners, a client without a certificate that verifies. */
  readonly requireCert?: boolean | undefined;
  /** The same, on the management API's https listener. */
  readonly requireCertHttps?: boolean | undefined;
  /** OpenSSL cipher list; DEFAULT_TLS_CIPHERS when not given. */
  readonly ciphers?: string | undefined;
}

/**
 * Node's own list at OpenSSL security level 2 (Node's OpenSSL is built at level 1): certificates,
 * the server's and the clients', with RSA keys under 2048 bits are refused, as Mosquitto and most
 * systems' OpenSSL do by default; a 1024-bit key can be factored by a well-funded attacker.
 */
export const DEFAULT_TLS_CIPHERS = `${DEFAULT_CIPHERS}:@SECLEVEL=2`;

/** Something whose certificate can be swapped while it runs: a tls.Server or https.Server. */
interface SecureServer {
  setSecureContext(options: SecureContextOptions): void;
  prependListener(event: 'secureConnection', listener: (socket: TLSSocket) => void): this;
}

/** Which switch requires client certificates on a listener: `requireCert` (the broker's protocols, wss) or `requireCertHttps` (the management API). */
export type TlsListenerKind = 'broker' | 'management';

/**
 * A change to a file often comes as several events (truncate, write, rename), and a certificate and
 * its key are seldom replaced in the same instant: the reload waits this long after the last event,
 * so it reads the finished pair rather than warning about a half-written one.
 */
const SETTLE_MS = 100;

/**
 * The certificate every TLS listener presents, read from its files and read again when they change.
 * New files that do not load (unreadable, not PEM, key not matching, a CA file without a
 * certificate) leave the old ones in place with a warning; connections already open keep the context they were made with.
 */
export class TlsCertificates {
  private options: SecureContextOptions;
  /** Each server served, with its listener's name for the logs. */
  private readonly servers = new Map<SecureServer, string>();
  private readonly watchers: FSWatcher[] = [];
  private settle: NodeJS.Timeout | undefined;
  private readonly reloadListeners: ((outcome: { ok: boolean; error?: Error }) => void)[] = [];
  /** The CRLs of the options in service, for their dates. */
  private crls: RevocationList[] = [];

  /** Reads the files; throws what Node says when they do not load, for the caller to phrase. */
  constructor(
    private readonly files: TlsFiles,
    private readonly logger: Logger,
  ) {
    this.options = this.read();
  }

  /** Whether a listener of this kind refuses clients without a verified certificate. */
  requires(kind: TlsListenerKind): boolean {
    return (kind === 'broker' ? this.files.requireCert : this.files.requireCertHttps) === true;
  }

  /** Options for `tls.createServer` / `https.createServer` of a listener of this kind. */
  serverOptions(kind: TlsListenerKind): TlsOptions {
    return {
      ...this.options,
      minVersion: 'TLSv1.2',
      requestCert: this.files.requestCert || this.requires(kind),
      // a client without a (valid) certificate still finishes the handshake; only `socket.authorized`
      // makes it count, and `serve` closes it where one is required: Node's own refusal closes such a
      // socket before any event, and the one it then reports has lost the address and the certificate
      rejectUnauthorized: false,
    };
  }

  /**
   * Starts following the files' changes for this server, the listener `listener`; warns if the
   * certificate or a CRL is out of its dates. Where the kind requires a client certificate, a client
   * without a verified one is closed as its handshake ends, before anything else hears of it.
   */
  serve(server: SecureServer, listener: string, kind: TlsListenerKind): void {
    this.servers.set(server, listener);
    this.warnIfOutOfDate([listener]);
    this.warnIfCrlOutOfDate([listener]);
    if (this.watchers.length === 0) this.watch();
    if (this.requires(kind)) server.prependListener('secureConnection', (socket) => refuseUnverified(socket, this.logger, listener));
  }

  forget(server: SecureServer): void {
    this.servers.delete(server);
  }

  /** Called after each reload attempt (tests and logs wait on it). */
  onReload(listener: (outcome: { ok: boolean; error?: Error }) => void): void {
    this.reloadListeners.push(listener);
  }

  /** Reads the files again and, if they load, gives every server the new pair. */
  reload(): void {
    let outcome: { ok: boolean; error?: Error };
    try {
      this.options = this.read();
      for (const server of this.servers.keys()) server.setSecureContext(this.options);
      this.logger.info({ event: 'tls.reloaded', cert: this.files.cert }, 'TLS certificate reloaded');
      this.warnIfOutOfDate([...this.servers.values()]);
      this.warnIfCrlOutOfDate([...this.servers.values()]);
      outcome = { ok: true };
    } catch (err) {
      this.logger.warn({ event: 'tls.reload-failed', cert: this.files.cert, key: this.files.key, ca: this.files.ca, crl: this.files.crl, reason: (err as Error).message }, 'new TLS files do not load; keeping the old ones');
      outcome = { ok: false, error: err as Error };
    }
    for (const listener of this.reloadListeners) listener(outcome);
  }

  /**
   * Node serves a certificate past its dates without a word, and clients then fail with their own
   * errors (`certificate has expired`), each at its own end: the operator hears it here first. The
   * broker still serves it, as refusing to start would stop the clients that do not verify it too.
   */
  private warnIfOutOfDate(listeners: string[]): void {
    const certificate = new X509Certificate(this.options.cert as Buffer);
    const now = Date.now();
    const validFrom = new Date(Date.parse(certificate.validFrom));
    const validTo = new Date(Date.parse(certificate.validTo));
    const state = now > validTo.getTime() ? `expired on ${validTo.toISOString()}` : now < validFrom.getTime() ? `is not valid before ${validFrom.toISOString()}` : undefined;
    if (state === undefined) return;
    const subject = subjectText(certificate);
    this.logger.warn(
      { event: 'tls.certificate-out-of-date', listeners, cert: this.files.cert, subject, validFrom: validFrom.toISOString(), validTo: validTo.toISOString() },
      `${listeners.join(', ')}: the server certificate ${this.files.cert} (${subject}) ${state}; clients that verify it will fail their handshake`,
    );
  }

  /**
   * OpenSSL takes a CRL past its next update, or not yet in force, as no list at all, and then
   * verifies no certificate its issuer signed (`CRL_HAS_EXPIRED`, `CRL_NOT_YET_VALID`): every
   * certificate login of that authority stops at once, so the operator hears it here first.
   */
  private warnIfCrlOutOfDate(listeners: string[]): void {
    const now = Date.now();
    for (const [index, list] of this.crls.entries()) {
      const state = list.nextUpdate !== undefined && now > list.nextUpdate.getTime() ? `is past its next update, ${list.nextUpdate.toISOString()}` : now < list.thisUpdate.getTime() ? `is not in force before ${list.thisUpdate.toISOString()}` : undefined;
      if (state === undefined) continue;
      this.logger.warn(
        { event: 'tls.crl-out-of-date', listeners, crl: this.files.crl, index: index + 1, thisUpdate: list.thisUpdate.toISOString(), nextUpdate: list.nextUpdate?.toISOString() },
        `${listeners.join(', ')}: CRL ${index + 1} of ${String(this.files.crl)} ${state}; no client certificate of its issuer verifies until a current CRL is in place`,
      );
    }
  }

  close(): void {
    clearTimeout(this.settle);
    for (const watcher of this.watchers) watcher.close();
    this.watchers.length = 0;
    this.servers.clear();
  }

  private read(): SecureContextOptions {
    const crls = this.files.crl === undefined ? [] : revocationLists(this.files.crl);
    const options: SecureContextOptions = {
      cert: readFileSync(this.files.cert),
      key: readFileSync(this.files.key),
      ...(this.files.ca === undefined ? {} : { ca: authorities(this.files.ca) }),
      ...(crls.length === 0 ? {} : { crl: crls.map((list) => list.pem) }),
      // in the context, not only the server's options: a reload replaces the whole context
      ciphers: this.files.ciphers ?? DEFAULT_TLS_CIPHERS,
    };
    // builds the context once here so a key that does not match its certificate fails now, not at the next handshake
    createSecureContext(options);
    this.crls = crls;
    return options;
  }

  /**
   * Watches the folders rather than the files: a certificate renewed by writing a new file and
   * renaming it over the old one (as certbot and `mv` do) leaves a watch on the old file's inode
   * deaf to every later change.
   */
  private watch(): void {
    const paths = [this.files.cert, this.files.key, ...[this.files.ca, this.files.crl].filter((path) => path !== undefined)];
    const byFolder = new Map<string, Set<string>>();
    for (const path of paths) {
      const names = byFolder.get(dirname(path)) ?? new Set<string>();
      names.add(basename(path));
      byFolder.set(dirname(path), names);
    }
    for (const [folder, names] of byFolder) {
      try {
        const watcher = watch(folder, { persistent: false }, (_event, name) => {
          if (name === null || names.has(name.toString())) this.changed();
        });
        watcher.on('error', (err) => this.logger.warn({ event: 'tls.watch-failed', folder, reason: err.message }, 'cannot follow changes to the TLS files'));
        this.watchers.push(watcher);
      } catch (err) {
        this.logger.warn({ event: 'tls.watch-failed', folder, reason: (err as Error).message }, 'cannot follow changes to the TLS files; restart to load new ones');
      }
    }
  }

  private changed(): void {
    clearTimeout(this.settle);
    this.settle = setTimeout(() => this.reload(), SETTLE_MS);
    this.settle.unref();
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^]*?-----END CERTIFICATE-----/g;

/**
 * The CA file's certificates. Node takes a file in which it finds none (empty, truncated, a key)
 * without a word and then verifies no client certificate at all, so certificate logins would stop
 * with nothing said: such a file does not load, as a bad certificate does not.
 */
function authorities(path: string): Buffer {
  const pem = readFileSync(path);
  const text = pem.toString('latin1');
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  const begun = text.split('-----BEGIN CERTIFICATE-----').length - 1;
  if (begun === 0) throw new Error(`the ca file ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  if (blocks.length !== begun) throw new Error(`the ca file ${path} has a certificate without its END line`);
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new Error(`certificate ${index + 1} of the ca file ${path} does not parse: ${(err as Error).message}`, { cause: err });
    }
  }
  return pem;
}

/** Sockets whose rejected certificate was logged: an https connection asks once per request. */
const reportedRejections = new WeakSet<TLSSocket>();

/**
 * The certificate a TLS client presented, if it verified against `tls.ca`: the subject as
 * `CN=alice,O=Shop`, the alternative names as OpenSSL prints them (`DNS:x`, `email:y`, `URI:z`,
 * `IP Address:127.0.0.1`), and the SHA-256 fingerprint. An unverified one is no identity at all,
 * and the client logs in by other means; it is logged at warn with Node's reason, because the
 * client itself hears only that a password is wanted, and an operator whose clients' certificates
 * have just expired would otherwise look for the fault in the passwords.
 */
export function verifiedPeerCertificate(socket: TLSSocket, logger: Logger, listener: string): PeerCertificate | undefined {
  const raw = socket.getPeerCertificate(false).raw;
  if (raw === undefined || raw.length === 0) return undefined;
  const certificate = new X509Certificate(raw);
  if (!socket.authorized) {
    if (!reportedRejections.has(socket)) {
      reportedRejections.add(socket);
      const remote = addressWithPort(socket.remoteAddress, socket.remotePort);
      const reason = String(socket.authorizationError);
      const subject = subjectText(certificate);
      const key = keyText(certificate);
      logger.warn({ event: 'tls.client-certificate-rejected', protocol: listener, remoteAddress: remote, subject, key, reason }, `${listener}: the client certificate of ${remote} (${subject}, ${key} key) was not accepted (${reason}); it counts as no certificate`);
    }
    return undefined;
  }
  return {
    subject: subjectText(certificate),
    subjectAltNames: splitAltNames(certificate.subjectAltName),
    fingerprint256: certificate.fingerprint256,
  };
}

/**
 * Closes `socket`, whose listener requires a client certificate, unless its certificate verified
 * against `tls.ca` (and no CRL revokes it); logs it once at warn, as the client hears only that the
 * connection closed (OpenSSL sends no alert for a certificate Node judges after the handshake).
 */
function refuseUnverified(socket: TLSSocket, logger: Logger, listener: string): void {
  if (socket.authorized) return;
  const remote = addressWithPort(socket.remoteAddress, socket.remotePort);
  const raw = socket.getPeerCertificate(false).raw;
  if (raw === undefined || raw.length === 0) {
    logger.warn({ event: 'tls.client-refused', protocol: listener, remoteAddress: remote, reason: 'no client certificate' }, `${listener}: ${remote} presented no client certificate, which this listener requires; connection closed`);
  } else {
    const certificate = new X509Certificate(raw);
    const subject = subjectText(certificate);
    const key = keyText(certificate);
    const reason = String(socket.authorizationError);
    logger.warn({ event: 'tls.client-refused', protocol: listener, remoteAddress: remote, subject, key, reason }, `${listener}: the client certificate of ${remote} (${subject}, ${key} key) was not accepted (${reason}), and this listener requires one; connection closed`);
  }
  socket.destroy();
}

/**
 * `rsa 1024 bits`: Node names a key too small for the security level `UNSPECIFIED`, so the log
 * gives the key itself for the operator to see why.
 */
function keyText(certificate: X509Certificate): string {
  const key = certificate.publicKey;
  const details = key.asymmetricKeyDetails;
  const size = details?.modulusLength ?? (details?.namedCurve === undefined ? undefined : details.namedCurve);
  return size === undefined ? String(key.asymmetricKeyType) : `${String(key.asymmetricKeyType)} ${typeof size === 'number' ? `${size} bits` : size}`;
}

/**
 * The subject as RFC 4514 text, attributes in the certificate's order joined by commas, in which
 * the only commas and plus signs are the separators: a special character inside a value is its
 * backslash and hex code (`OU=x\2CCN=admin`), never a backslash and itself (`OU=x\,CN=admin`),
 * which a rule such as `(?:^|,)CN=([^,]+)` would read as a second CN, naming whom the value's
 * writer chose.
 */
export function subjectText(certificate: X509Certificate): string {
  // X509Certificate gives one RDN a line (control characters already as hex), escaping ,+"\<>;= with a backslash
  return certificate.subject
    .split('\n')
    .map((rdn) => rdn.replace(/\\([^0-9A-Fa-f])/g, (_escape, c: string) => `\\${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`))
    .join(',');
}

/** OpenSSL's `DNS:a, DNS:b` list; a name holding a comma comes JSON-quoted (`DNS:"a, b"`). */
function splitAltNames(list: string | undefined): string[] {
  if (list === undefined || list === '') return [];
  const names: string[] = [];
  const pattern = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/gy;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(list)) !== null && match[0] !== '') {
    const value = match[2]!.startsWith('"') ? (JSON.parse(match[2]!) as string) : match[2]!;
    names.push(`${match[1]!}:${value}`);
  }
  return names;
}

/**
 * Refuses TLS 1.2 renegotiation on every connection of `server`, and closes a connection that asks
 * for it. Each renegotiation costs the broker a full handshake, private-key operation included, and
 * no client of Ferry's protocols needs one (TLS 1.3 has none). Node only reports such a handshake as
 * an error on the socket and goes on with it, so the connection is closed here.
 */
export function refuseRenegotiation(server: TlsServer, logger: Logger, listener: string): void {
  // one listener function for all the server's sockets: a closure per connection costs memory
  const refused = function (this: TLSSocket, err: NodeJS.ErrnoException): void {
    if (this.destroyed || (err.code !== 'ERR_TLS_RENEGOTIATION_DISABLED' && err.code !== 'ERR_TLS_SESSION_ATTACK')) return;
    const remote = addressWithPort(this.remoteAddress, this.remotePort);
    logger.warn({ event: 'tls.renegotiation-refused', protocol: listener, remoteAddress: remote }, `${listener}: ${remote} asked to renegotiate TLS, which Ferry does not allow; connection closed`);
    this.destroy();
  };
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.disableRenegotiation();
    // first, while the address is still there: an HTTP server destroys a socket on any error
    socket.prependListener('error', refused);
  });
}

/**
 * Why the broker closed a socket whose TLS handshake ran past its time-out. It travels as the
 * socket's error because Node hands it on to `tlsClientError`, once, where the TLS socket has
 * already lost its address and the broker's own close would otherwise read as the peer's reset
 * (`ECONNRESET`, `socket hang up`).
 */
class UnfinishedHandshake extends Error {
  constructor(
    readonly remote: string,
    readonly timeoutMs: number,
  ) {
    super(`TLS handshake not completed within ${timeoutMs} ms`);
    this.name = 'UnfinishedHandshake';
  }
}

/**
 * Closes the TCP socket under a TLS handshake that was not done in `timeoutMs` (`remote`: its address,
 * read at accept); `handshakeFailed` logs it. A socket whose handshake did finish (an https or wss
 * client slow to send its request) gets the error as any other socket error, and nothing is logged.
 */
export function endUnfinishedHandshake(socket: Socket, remote: string, timeoutMs: number): void {
  socket.destroy(new UnfinishedHandshake(remote, timeoutMs));
}

/**
 * OpenSSL's codes for a first record that is not TLS at all. It names them after what the bytes
 * look like (a STOMP `CONNECT` frame reads as an HTTP proxy request), which sends an operator
 * looking for a proxy; the client merely forgot to turn TLS on, or chose the wrong port.
 */
const NOT_TLS = new Set(['ERR_SSL_HTTP_REQUEST', 'ERR_SSL_HTTPS_PROXY_REQUEST', 'ERR_SSL_WRONG_VERSION_NUMBER']);
const PLAIN_TEXT = 'the client spoke plain text on a TLS port; use the TLS client settings or the plain port';

/**
 * A client that did not complete the TLS handshake (a plain-text client on a TLS port, a protocol
 * version or certificate it refused, one too slow): Node has closed that socket already, and nothing
 * else is touched. One line at info: it is the client's mistake, and a port scanner makes many.
 */
export function handshakeFailed(logger: Logger, listener: string, socket: TLSSocket, err: NodeJS.ErrnoException): void {
  if (err instanceof UnfinishedHandshake) {
    logger.info({ event: 'tls.handshake-failed', protocol: listener, remoteAddress: err.remote, reason: err.message, timeoutMs: err.timeoutMs }, `${listener}: TLS handshake with ${err.remote} not completed within ${err.timeoutMs} ms; connection closed`);
    return;
  }
  // a peer that reset the connection has taken its address with it
  const remote = socket.remoteAddress === undefined ? 'unknown' : addressWithPort(socket.remoteAddress, socket.remotePort);
  if (err.code !== undefined && NOT_TLS.has(err.code)) {
    logger.info({ event: 'tls.handshake-failed', protocol: listener, remoteAddress: remote, reason: PLAIN_TEXT, code: err.code }, `${listener}: ${remote} spoke plain text on a TLS port; use the TLS client settings or the plain port`);
    return;
  }
  logger.info({ event: 'tls.handshake-failed', protocol: listener, remoteAddress: remote, reason: err.code ?? err.message }, `TLS handshake with ${remote} failed: ${err.message}`);
}
