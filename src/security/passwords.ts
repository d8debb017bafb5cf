import { createHash, createHmac, pbkdf2, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { FerryError } from '../errors.js';
import type { ScramCredentials } from './directory.js';

/**
 * Password hashes as the users file keeps them. The hash string carries its own salt and cost, so
 * the cost can grow later without breaking older entries:
 *
 *   scrypt$N=32768,r=8,p=1$<salt, base64>$<hash, base64>
 *
 * and the keys SCRAM-SHA-256 needs, in the form PostgreSQL keeps them:
 *
 *   SCRAM-SHA-256$<iterations>:<salt, base64>$<StoredKey, base64>:<ServerKey, base64>
 *
 * `crypto.scrypt` and `crypto.pbkdf2` run on libuv's thread pool, so checking a login never blocks
 * the event loop that delivers messages.
 */

/** scrypt's cost: about 50 ms on one core of a current server, 32 MiB of memory. */
export const SCRYPT_COST = { N: 32768, r: 8, p: 1 } as const;
/** PBKDF2 rounds for SCRAM-SHA-256 keys; RFC 7677 asks for at least 4096. */
export const SCRAM_ITERATIONS = 4096;

const KEY_LENGTH = 32;

function scryptAsync(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, { ...options, maxmem: 256 * options.N! * options.r! }, (err, key) => (err === null ? resolve(key) : reject(err))),
  );
}

export async function hashPassword(password: string, cost: { N: number; r: number; p: number } = SCRYPT_COST): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, cost);
  return `scrypt$N=${cost.N},r=${cost.r},p=${cost.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

interface ParsedScrypt {
  readonly cost: { N: number; r: number; p: number };
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Throws FERRY_CONFIG_INVALID with what is wrong; `where` names the entry. */
export function parsePasswordHash(text: string, where: string): ParsedScrypt {
  const match = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(text);
  if (match === null) {
    throw new FerryError('FERRY_CONFIG_INVALID', `${where}: the password is not a hash of the form scrypt$N=...,r=...,p=...$salt$hash (write it with "ferry user add" or "ferry user passwd")`);
  }
  const [N, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (N < 2 || (N & (N - 1)) !== 0 || r < 1 || p < 1 || N * r > 1 << 24) throw new FerryError('FERRY_CONFIG_INVALID', `${where}: scrypt cost N=${N},r=${r},p=${p} is out of range`);
  return { cost: { N, r, p }, salt: Buffer.from(match[4]!, 'base64'), hash: Buffer.from(match[5]!, 'base64') };
}

export async function verifyPassword(password: string, hash: ParsedScrypt): Promise<boolean> {
  const candidate = await scryptAsync(password, hash.salt, hash.cost);
  return candidate.length === hash.hash.length && timingSafeEqual(candidate, hash.hash);
}

function pbkdf2Async(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => pbkdf2(password, salt, iterations, KEY_LENGTH, 'sha256', (err, key) => (err === null ? resolve(key) : reject(err))));
}

/** StoredKey and ServerKey from a salted password ([RFC 5802] 3). */
export function scramKeys(saltedPassword: Buffer): { storedKey: Buffer; serverKey: Buffer } {
  const clientKey = createHmac('sha256', saltedPassword).update('Client Key').digest();
  return { storedKey: createHash('sha256').update(clientKey).digest(), serverKey: createHmac('sha256', saltedPassword).update('Server Key').digest() };
}

/**
 * SCRAM-SHA-256 keys for a password. SASLprep ([RFC 4013]) is approximated by NFKC, which is what
 * it does to every password made of printable characters.
 */
export async function makeScramCredentials(password: string, iterations = SCRAM_ITERATIONS): Promise<string> {
  const salt = randomBytes(16);
  const salted = await pbkdf2Async(password.normalize('NFKC'), salt, iterations);
  const { storedKey, serverKey } = scramKeys(salted);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export function parseScramCredentials(text: string, where: string): ScramCredentials {
  const match = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(text);
  if (match === null) throw new FerryError('FERRY_CONFIG_INVALID', `${where}: scram is not of the form SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey`);
  const iterations = Number(match[1]);
  if (iterations < 4096) throw new FerryError('FERRY_CONFIG_INVALID', `${where}: SCRAM-SHA-256 needs at least 4096 iterations, got ${iterations}`);
  return { iterations, salt: Buffer.from(match[2]!, 'base64'), storedKey: Buffer.from(match[3]!, 'base64'), serverKey: Buffer.from(match[4]!, 'base64') };
}
