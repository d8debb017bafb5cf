import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingPrerequisite, run } from './interop.js';

export const SLAPD = '/usr/sbin/slapd';

/** Why the LDAP tests cannot run here (loud, and an error under CI), or undefined. */
export function slapdMissing(): string | undefined {
  const available = existsSync(SLAPD) && spawnSync('ldapadd', ['-VV']).error === undefined && spawnSync('openssl', ['version']).error === undefined;
  return missingPrerequisite('slapd, ldapadd or openssl', available, 'apt-get install slapd ldap-utils openssl');
}

export const SUFFIX = 'dc=example,dc=com';
export const ROOT_DN = `cn=admin,${SUFFIX}`;
const ROOT_PASSWORD = 'root-secret';

/** The directory the tests expect: a search account, two users, two groups. */
export const SEED = `dn: ${SUFFIX}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,${SUFFIX}
objectClass: organizationalUnit
ou: people

dn: ou=groups,${SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: ou=services,${SUFFIX}
objectClass: organizationalUnit
ou: services

dn: cn=ferry,ou=services,${SUFFIX}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: ferry
userPassword: search-secret

dn: uid=alice,ou=people,${SUFFIX}
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Liddell
userPassword: alice-secret

dn: uid=bob,ou=people,${SUFFIX}
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: Builder
userPassword: bob-secret

dn: cn=admins,ou=groups,${SUFFIX}
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,${SUFFIX}

dn: cn=readers,ou=groups,${SUFFIX}
objectClass: groupOfNames
cn: readers
member: uid=alice,ou=people,${SUFFIX}
member: uid=bob,ou=people,${SUFFIX}
`;

export interface Slapd {
  readonly url: string;
  readonly port: number;
  /** With `tls`: the ldaps:// URL, and the PEM file of the CA that signed the server's certificate. */
  readonly ldapsUrl?: string;
  readonly caFile?: string;
  /** Freezes the server (SIGSTOP): connections are still accepted by the kernel, and never answered. */
  pause(): void;
  /** Lets a paused server carry on (SIGCONT). */
  resume(): void;
  /** Changes the directory as its root, with ldapmodify and an LDIF of changes (`changetype: add` for new entries). */
  modify(ldif: string): Promise<void>;
  /** Stops the server and resolves when it has exited. */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function launch(conf: string, urls: string[]): Promise<ChildProcess> {
  // -d keeps slapd in the foreground, where the test owns it; "slapd starting" means it listens
  const child = spawn(SLAPD, ['-f', conf, '-h', urls.map((u) => `${u}/`).join(' '), '-d', 'stats'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('slapd starting')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`slapd exited with ${code} before starting:\n${output.slice(-2000)}`)));
    child.once('error', reject);
  });
}

/** A test CA and a certificate it signs for 127.0.0.1 and localhost, made with openssl in `dir`. */
async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const [ca, caKey, cert, key, csr] = ['ca.pem', 'ca.key', 'server.pem', 'server.key', 'server.csr'].map((f) => join(dir, f)) as [string, string, string, string, string];
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=Ferry test LDAP CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  await run('openssl', ['req', ...ec, '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1']);
  const extensions = join(dir, 'server.ext');
  writeFileSync(extensions, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', extensions]);
  return { ca, cert, key };
}

/**
 * Starts a slapd of its own, with a slapd.conf and an mdb database in a temporary folder, on a free
 * port of 127.0.0.1 (with `tls`, on a second one for ldaps:// too), and loads SEED into it with
 * ldapadd. With `memberOf`, the memberof overlay keeps each entry's `memberOf` (users' and groups')
 * in step with the groupOfNames entries that list it, as Active Directory does.
 */
export async function startSlapd(options: { tls?: boolean; memberOf?: boolean } = {}): Promise<Slapd> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-slapd-'));
  mkdirSync(join(dir, 'db'));
  const conf = join(dir, 'slapd.conf');
  const certificates = options.tls === true ? await makeCertificates(dir) : undefined;
  writeFileSync(
    conf,
    `${certificates === undefined ? '' : `TLSCACertificateFile ${certificates.ca}\nTLSCertificateFile ${certificates.cert}\nTLSCertificateKeyFile ${certificates.key}\n`}include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
${options.memberOf === true ? 'moduleload memberof\n' : ''}# as some servers do by default: a name with an empty password binds, unauthenticated ([RFC 4513] 5.1.2)
allow bind_anon_dn
pidfile ${join(dir, 'slapd.pid')}
database mdb
maxsize 10485760
suffix "${SUFFIX}"
rootdn "${ROOT_DN}"
rootpw ${ROOT_PASSWORD}
directory ${join(dir, 'db')}
access to attrs=userPassword by anonymous auth by * none
access to * by * read
${options.memberOf === true ? 'overlay memberof\n' : ''}`,
  );
  let child: ChildProcess | undefined;
  let url = '';
  let ldapsUrl: string | undefined;
  // the port is free when asked for, but another process may take it before slapd binds it
  for (let attempt = 0; child === undefined; attempt++) {
    url = `ldap://127.0.0.1:${await freePort()}`;
    ldapsUrl = certificates === undefined ? undefined : `ldaps://127.0.0.1:${await freePort()}`;
    try {
      child = await launch(conf, ldapsUrl === undefined ? [url] : [url, ldapsUrl]);
    } catch (err) {
      if (attempt >= 2) throw err;
    }
  }
  const seed = join(dir, 'seed.ldif');
  writeFileSync(seed, SEED);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    // "slapd starting" can come a moment before its listener takes connections: the seed is tried
    // again while slapd cannot be contacted yet
    for (let tries = 1; ; tries++) {
      try {
        await run('ldapadd', ['-x', '-H', url, '-D', ROOT_DN, '-w', ROOT_PASSWORD, '-f', seed]);
        break;
      } catch (err) {
        if (tries >= 20 || !/Can't contact LDAP server/.test(String(err))) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  let changes = 0;
  return {
    url,
    port: Number(new URL(url).port),
    ...(ldapsUrl === undefined ? {} : { ldapsUrl, caFile: certificates!.ca }),
    pause() {
      child.kill('SIGSTOP');
    },
    resume() {
      child.kill('SIGCONT');
    },
    async modify(ldif: string) {
      const file = join(dir, `change-${++changes}.ldif`);
      writeFileSync(file, ldif);
      await run('ldapmodify', ['-x', '-H', url, '-D', ROOT_DN, '-w', ROOT_PASSWORD, '-f', file]);
    },
    stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // a paused server would keep the SIGTERM pending
        child.kill('SIGCONT');
        child.kill('SIGTERM');
      }
      return exited;
    },
  };
}
