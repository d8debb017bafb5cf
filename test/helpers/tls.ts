import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import type { ConfigValue } from '../../src/config/index.js';
import type { Authenticator, ConnectRequest, Principal } from '../../src/core/index.js';
import type { ServerOptions } from '../../src/cli/server.js';
import { startBroker, type TestBroker } from './broker.js';

export interface TestCertificates {
  readonly dir: string;
  /** Paths of the files docs/examples/secure/make-certs.sh makes. */
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly admin: { readonly cert: string; readonly key: string };
  readonly reader: { readonly cert: string; readonly key: string };
  /** PEM contents, for clients' options. */
  pem(path: string): Buffer;
}

/** Runs the example's make-certs.sh into a fresh copy of its folder (a few hundred ms of openssl). */
export function makeCertificates(): TestCertificates {
  const source = fileURLToPath(new URL('../../../docs/examples/secure', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'ferry-certs-'));
  cpSync(source, dir, { recursive: true, filter: (path) => !path.endsWith('.pem') });
  execFileSync('sh', [join(dir, 'make-certs.sh')], { stdio: 'ignore' });
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server-key.pem'),
    admin: { cert: join(dir, 'admin.pem'), key: join(dir, 'admin-key.pem') },
    reader: { cert: join(dir, 'reader.pem'), key: join(dir, 'reader-key.pem') },
    pem: (path) => readFileSync(path),
  };
}

export interface IssueOptions {
  /** openssl's form, `/O=Ferry example/CN=admin` (the default). */
  readonly subject?: string;
  /** RSA key size; 2048 by default. */
  readonly bits?: number;
  /** Validity as openssl's `YYYYMMDDHHMMSSZ`; by default from now for `days`. */
  readonly notBefore?: string;
  readonly notAfter?: string;
  /** 2 by default. */
  readonly days?: number;
  /** Extensions, one a line; a client certificate's by default. */
  readonly extensions?: string;
}

/** A key and a certificate signed by the test CA, in a folder of their own (`openssl ca`, which can date a certificate in the past). */
export function issueCertificate(certs: TestCertificates, options: IssueOptions = {}): { readonly cert: string; readonly key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-issued-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), `${Date.now().toString(16).padStart(16, '0')}\n`);
  writeFileSync(
    join(dir, 'ca.cnf'),
    [
      '[ca]', 'default_ca = issuer', '[issuer]', `database = ${join(dir, 'index.txt')}`, `new_certs_dir = ${dir}`, `serial = ${join(dir, 'serial')}`,
      'default_md = sha256', 'preserve = yes', 'policy = anything', 'unique_subject = no', '[anything]', 'organizationName = optional', 'commonName = supplied',
      '[extensions]', options.extensions ?? 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth', '',
    ].join('\n'),
  );
  execFileSync('openssl', ['req', '-newkey', `rsa:${options.bits ?? 2048}`, '-nodes', '-subj', options.subject ?? '/O=Ferry example/CN=admin', '-keyout', key, '-out', join(dir, 'req.csr')], { stdio: 'ignore' });
  const validity = options.notBefore !== undefined && options.notAfter !== undefined ? ['-startdate', options.notBefore, '-enddate', options.notAfter] : ['-days', String(options.days ?? 2)];
  execFileSync('openssl', ['ca', '-batch', '-notext', '-config', join(dir, 'ca.cnf'), '-cert', certs.ca, '-keyfile', join(certs.dir, 'ca-key.pem'), '-extensions', 'extensions', '-in', join(dir, 'req.csr'), '-out', cert, ...validity], { stdio: 'ignore' });
  return { cert, key };
}

/** A certificate authority of its own (not the test CA), for certificates and CRLs it signs. */
export function otherAuthority(): { readonly dir: string; readonly ca: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-other-ca-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2', '-subj', '/O=Elsewhere/CN=Another CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', join(dir, 'ca-key.pem'), '-out', join(dir, 'ca.pem')], { stdio: 'ignore' });
  return { dir, ca: join(dir, 'ca.pem') };
}

/**
 * A PEM CRL, signed by the authority whose `ca.pem` and `ca-key.pem` are in `authority.dir`, that
 * revokes the certificates `revoked` (`openssl ca -revoke` then `-gencrl`, on an index of their own in
 * a fresh folder); valid for 48 hours from now, or between `dates` (openssl's `YYYYMMDDHHMMSSZ`).
 */
export function makeCrl(authority: { readonly dir: string; readonly ca: string }, revoked: readonly string[], dates?: { readonly lastUpdate: string; readonly nextUpdate: string }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-crl-'));
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'crlnumber'), '1000\n');
  const config = join(dir, 'ca.cnf');
  writeFileSync(config, ['[ca]', 'default_ca = issuer', '[issuer]', `database = ${join(dir, 'index.txt')}`, `crlnumber = ${join(dir, 'crlnumber')}`, 'default_md = sha256', ''].join('\n'));
  const ca = ['-config', config, '-cert', authority.ca, '-keyfile', join(authority.dir, 'ca-key.pem')];
  for (const cert of revoked) execFileSync('openssl', ['ca', ...ca, '-revoke', cert], { stdio: 'ignore' });
  const crl = join(dir, 'crl.pem');
  const validity = dates === undefined ? ['-crlhours', '48'] : ['-crl_lastupdate', dates.lastUpdate, '-crl_nextupdate', dates.nextUpdate];
  execFileSync('openssl', ['ca', ...ca, '-gencrl', ...validity, '-out', crl], { stdio: 'ignore' });
  return crl;
}

/** The bound port of each TLS listener of a test broker. */
export interface TlsPorts {
  readonly stomp: number;
  readonly mqtt: number;
  readonly amqp: number;
  readonly websocket: number;
  readonly http: number;
}

/** Log lines a broker wrote, parsed, with a wait for one that matches. */
export class LogLines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  private waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    for (const text of chunk.toString('utf8').split('\n')) {
      if (text.trim() === '') continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(line)) return true;
        w.resolve(line);
        return false;
      });
    }
    callback();
  }

  /** Resolves with the first line (past or future) that matches. */
  waitFor(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
}

/**
 * A test broker (see startBroker) with the certificates of `certs` and every TLS listener on
 * 127.0.0.1 port 0 beside the plain ones; client certificates are asked for and checked against the CA.
 */
export async function startTlsBroker(
  certs: TestCertificates,
  settings: Record<string, ConfigValue> = {},
  options: ServerOptions = {},
  logTo?: LogLines,
): Promise<TestBroker & { readonly tlsPorts: TlsPorts }> {
  const listeners = ['stompTls', 'mqttTls', 'amqpTls', 'websocketTls', 'httpTls'].flatMap((name): [string, ConfigValue][] => [
    [`listeners.${name}.enabled`, true],
    [`listeners.${name}.host`, '127.0.0.1'],
    [`listeners.${name}.port`, 0],
  ]);
  const broker = await startBroker(
    { 'tls.cert': certs.serverCert, 'tls.key': certs.serverKey, 'tls.ca': certs.ca, 'tls.requestCert': true, ...Object.fromEntries(listeners), ...settings },
    options,
    undefined,
    logTo,
  );
  const port = (name: string): number => broker.server.ports[name] ?? 0;
  return { ...broker, tlsPorts: { stomp: port('stomp-tls'), mqtt: port('mqtt-tls'), amqp: port('amqp-tls'), websocket: port('websocket-tls'), http: port('http-tls') } };
}

/** Lets every client in, as its credentials name it, and keeps each connect request to look at. */
export class RecordingAuthenticator implements Authenticator {
  readonly requests: ConnectRequest[] = [];

  authenticate(request: ConnectRequest): Principal {
    if (request.internal !== true) this.requests.push(request);
    return { username: request.credentials?.username, groups: [], internal: request.internal === true };
  }

  /** The last connect of `protocol`. */
  last(protocol: string): ConnectRequest {
    const found = this.requests.filter((r) => r.protocol === protocol).at(-1);
    assert.ok(found !== undefined, `no ${protocol} connect reached the authenticator`);
    return found;
  }
}
