import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The client side of SCRAM-SHA-256 ([RFC 5802], [RFC 7677]), for tests. Written here because no
 * npm client library does SCRAM over MQTT 5 AUTH (MQTT.js leaves the exchange to `handleAuth`),
 * and rhea offers no SCRAM mechanism. It follows the RFC independently of the broker's
 * src/security/scram.ts, sharing no code with it, so that each checks the other.
 */
export class ScramClient {
  readonly clientFirst: Buffer;
  private readonly firstBare: string;
  private readonly gs2Header: string;
  private serverSignature: Buffer | undefined;

  constructor(
    private readonly username: string,
    private readonly password: string,
    options: { nonce?: string; gs2Header?: string } = {},
  ) {
    const nonce = options.nonce ?? randomBytes(18).toString('base64');
    this.gs2Header = options.gs2Header ?? 'n,,';
    const name = username.replace(/=/g, '=3D').replace(/,/g, '=2C');
    this.firstBare = `n=${name},r=${nonce}`;
    this.clientFirst = Buffer.from(this.gs2Header + this.firstBare, 'utf8');
  }

  /** Answers the server-first message with the client-final one. */
  final(serverFirst: Buffer): Buffer {
    const text = serverFirst.toString('utf8');
    const fields = new Map(text.split(',').map((f) => [f.slice(0, 1), f.slice(2)] as const));
    const nonce = fields.get('r');
    const salt = fields.get('s');
    const iterations = Number(fields.get('i'));
    if (nonce === undefined || salt === undefined || !Number.isInteger(iterations)) throw new Error(`not a server-first message: ${text}`);
    if (!nonce.startsWith(this.firstBare.slice(this.firstBare.indexOf(',r=') + 3))) throw new Error('the server nonce does not extend the client nonce');
    const salted = pbkdf2Sync(this.password.normalize('NFKC'), Buffer.from(salt, 'base64'), iterations, 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const serverKey = createHmac('sha256', salted).update('Server Key').digest();
    const withoutProof = `c=${Buffer.from(this.gs2Header).toString('base64')},r=${nonce}`;
    const authMessage = `${this.firstBare},${text},${withoutProof}`;
    const signature = createHmac('sha256', storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
    this.serverSignature = createHmac('sha256', serverKey).update(authMessage).digest();
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8');
  }

  /** True when the server-final message proves the server knew the user's keys. */
  verify(serverFinal: Buffer | undefined): boolean {
    const text = serverFinal?.toString('utf8') ?? '';
    if (this.serverSignature === undefined || !text.startsWith('v=')) return false;
    const got = Buffer.from(text.slice(2), 'base64');
    return got.length === this.serverSignature.length && timingSafeEqual(got, this.serverSignature);
  }

  get user(): string {
    return this.username;
  }
}
