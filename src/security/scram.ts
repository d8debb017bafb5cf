import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { FerryError } from '../errors.js';
import type { SaslExchange, SaslStep } from '../core/index.js';
import type { ScramCredentials } from './directory.js';
import { SCRAM_ITERATIONS } from './passwords.js';

/**
 * The server side of SCRAM-SHA-256 ([RFC 5802], [RFC 7677]) without channel binding:
 *
 *   client-first  n,,n=user,r=<client nonce>
 *   server-first  r=<client nonce><server nonce>,s=<salt>,i=<iterations>
 *   client-final  c=biws,r=<nonce>,p=<ClientProof>
 *   server-final  v=<ServerSignature>
 *
 * The broker keeps StoredKey and ServerKey only, never the password: it checks the proof by
 * recovering ClientKey from it and hashing that to StoredKey; the server signature proves to the
 * client that the broker knew the keys too.
 *
 * A name no directory knows gets a salt made from `secret` and the name (the same each time, so two
 * tries cannot tell it from a real one) and the default iteration count, and fails at the proof
 * exactly as a wrong password does: a client cannot probe which users exist.
 */

export interface ScramExchangeOptions {
  /** The keys of a user, or undefined for a name no directory knows. */
  readonly credentials: (username: string) => ScramCredentials | undefined;
  /** The key of the fake salts given to unknown names; one per broker run is enough. */
  readonly secret: Buffer;
  /** The server's part of the nonce; random by default (tests give the RFC's). */
  readonly nonce?: (() => string) | undefined;
}

const MECHANISM = 'SCRAM-SHA-256';
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;

const malformed = (why: string): FerryError => new FerryError('FERRY_SASL_MALFORMED', `SCRAM-SHA-256: ${why}`);
const refused = (): FerryError => new FerryError('FERRY_AUTHENTICATION_FAILED', 'unknown user or wrong password');

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** printable = %x21-2B / %x2D-7E: every visible ASCII character but the comma ([RFC 5802] 7). */
const NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Extensions are `letter=value`; `m=` is reserved and must fail ([RFC 5802] 5.1). */
const EXTENSION = /^[A-Za-z]=/;

type State =
  | { readonly phase: 'first' }
  | {
      readonly phase: 'final';
      readonly username: string;
      readonly gs2Header: string;
      readonly nonce: string;
      readonly firstBare: string;
      readonly serverFirst: string;
      readonly keys: ScramCredentials | undefined;
    }
  | { readonly phase: 'over' };

export class ScramExchange implements SaslExchange {
  readonly mechanism = MECHANISM;
  private state: State = { phase: 'first' };
  private proved: string | undefined;

  constructor(private readonly options: ScramExchangeOptions) {}

  get username(): string | undefined {
    return this.proved;
  }

  respond(message: Buffer): Promise<SaslStep> {
    try {
      return Promise.resolve(this.step(message));
    } catch (err) {
      // one failure ends the exchange: nothing the client sends after it is read
      this.state = { phase: 'over' };
      return Promise.reject(err);
    }
  }

  private step(message: Buffer): SaslStep {
    let text: string;
    try {
      text = utf8.decode(message);
    } catch {
      throw malformed('a message that is not UTF-8');
    }
    const state = this.state;
    if (state.phase === 'first') return this.clientFirst(text);
    if (state.phase === 'final') return this.clientFinal(text, state);
    throw malformed('a message after the exchange ended');
  }

  private clientFirst(text: string): SaslStep {
    // gs2-header = gs2-cbind-flag "," [authzid] ","
    const first = text.indexOf(',');
    const second = first < 0 ? -1 : text.indexOf(',', first + 1);
    if (second < 0) throw malformed('the client-first message has no gs2 header (n,, or y,,)');
    const flag = text.slice(0, first);
    if (flag.startsWith('p=')) throw malformed('channel binding (p=) was asked for; the broker offers SCRAM-SHA-256 without it');
    // "y": the client could bind the channel but thinks the server cannot; right, as no -PLUS is offered
    if (flag !== 'n' && flag !== 'y') throw malformed(`the gs2 flag must be n, y or p=, not "${flag}"`);
    const authzidField = text.slice(first + 1, second);
    let authzid: string | undefined;
    if (authzidField !== '') {
      if (!authzidField.startsWith('a=')) throw malformed('the gs2 header\'s second field must be empty or a=authzid');
      authzid = decodeName(authzidField.slice(2));
    }
    const gs2Header = text.slice(0, second + 1);
    const firstBare = text.slice(second + 1);
    const attributes = firstBare.split(',');
    if (attributes[0]?.startsWith('m=') === true) throw malformed('the reserved attribute m= is not supported');
    const [user, nonce, ...extensions] = attributes;
    if (user === undefined || !user.startsWith('n=')) throw malformed('the client-first message must go on with n=username');
    if (nonce === undefined || !nonce.startsWith('r=')) throw malformed('n=username must be followed by r=nonce');
    for (const extension of extensions) {
      if (!EXTENSION.test(extension) || extension.startsWith('m=')) throw malformed(`an attribute "${extension.slice(0, 2)}" where only extensions may follow r=`);
    }
    const username = decodeName(user.slice(2));
    if (username === '') throw malformed('an empty user name');
    // [RFC 5802] 5.1: acting for another user is not offered
    if (authzid !== undefined && authzid !== username) throw new FerryError('FERRY_AUTHENTICATION_FAILED', 'acting for another user (an authzid) is not allowed');
    const clientNonce = nonce.slice(2);
    if (!NONCE.test(clientNonce)) throw malformed('the client nonce is empty or has characters outside %x21-7E or a comma');

    const serverNonce = this.options.nonce?.() ?? randomBytes(18).toString('base64');
    if (!NONCE.test(serverNonce)) throw new Error('a SCRAM server nonce must be printable ASCII without commas');
    const keys = this.options.credentials(username);
    const salt = keys?.salt ?? createHmac('sha256', this.options.secret).update(username).digest().subarray(0, SALT_LENGTH);
    const iterations = keys?.iterations ?? SCRAM_ITERATIONS;
    const fullNonce = clientNonce + serverNonce;
    const serverFirst = `r=${fullNonce},s=${salt.toString('base64')},i=${iterations}`;
    this.state = { phase: 'final', username, gs2Header, nonce: fullNonce, firstBare, serverFirst, keys };
    return { done: false, challenge: Buffer.from(serverFirst, 'utf8') };
  }

  private clientFinal(text: string, state: Extract<State, { phase: 'final' }>): SaslStep {
    // client-final-message-without-proof "," proof, the proof last
    const proofAt = text.lastIndexOf(',p=');
    if (proofAt < 0) throw malformed('the client-final message must end with p=proof');
    const withoutProof = text.slice(0, proofAt);
    const proofText = text.slice(proofAt + 3);
    const [binding, nonce, ...extensions] = withoutProof.split(',');
    if (binding === undefined || !binding.startsWith('c=')) throw malformed('the client-final message must begin with c=');
    if (nonce === undefined || !nonce.startsWith('r=')) throw malformed('c= must be followed by r=nonce');
    for (const extension of extensions) {
      if (!EXTENSION.test(extension) || extension.startsWith('m=')) throw malformed(`an attribute "${extension.slice(0, 2)}" where only extensions may follow r=`);
    }
    // without channel binding, c= is the gs2 header itself ([RFC 5802] 7: cbind-input)
    if (binding.slice(2) !== Buffer.from(state.gs2Header, 'utf8').toString('base64')) throw malformed('c= is not the base64 of the client-first message\'s gs2 header');
    if (nonce.slice(2) !== state.nonce) throw malformed('the nonce is not the one the server sent');
    if (!BASE64.test(proofText)) throw malformed('the proof is not base64');
    const proof = Buffer.from(proofText, 'base64');
    if (proof.length !== KEY_LENGTH) throw malformed(`the proof has ${proof.length} bytes, not ${KEY_LENGTH}`);

    const authMessage = `${state.firstBare},${state.serverFirst},${withoutProof}`;
    // an unknown name goes through the same steps against keys that match no proof
    const storedKey = state.keys?.storedKey ?? Buffer.alloc(KEY_LENGTH);
    const clientSignature = createHmac('sha256', storedKey).update(authMessage).digest();
    const clientKey = Buffer.alloc(KEY_LENGTH);
    for (let i = 0; i < KEY_LENGTH; i++) clientKey[i] = proof[i]! ^ clientSignature[i]!;
    const candidate = createHash('sha256').update(clientKey).digest();
    const matches = storedKey.length === KEY_LENGTH && timingSafeEqual(candidate, storedKey);
    this.state = { phase: 'over' };
    if (!matches || state.keys === undefined) throw refused();
    this.proved = state.username;
    const serverSignature = createHmac('sha256', state.keys.serverKey).update(authMessage).digest();
    return { done: true, additionalData: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8') };
  }
}

/** saslname: `,` and `=` travel as `=2C` and `=3D`; any other `=` is an encoding error ([RFC 5802] 5.1). */
function decodeName(text: string): string {
  if (/=(?!2C|3D)/.test(text)) throw malformed('a user name with "=" not followed by 2C or 3D');
  return text.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** The factory SecurityAuthenticator takes (`scram` option). */
export function scramExchange(credentials: (username: string) => ScramCredentials | undefined, secret: Buffer): SaslExchange {
  return new ScramExchange({ credentials, secret });
}
