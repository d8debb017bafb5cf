import { FerryError, isFerryError } from '../../errors.js';
import type { BrokerAccess, Credentials, Logger, SaslExchange, SaslStep, TransportFacts } from '../../core/index.js';
import type { AmqpValue } from './codec.js';
import { Performative, put, saslFrame, stringField } from './frames.js';

/**
 * The SASL layer ([AMQP 5.3]) as the broker runs it. It offers what the broker's authenticator
 * offers on this transport, and when the authenticator runs the mechanism itself
 * (`BrokerAccess.startSasl`) the sasl-outcome is its decision: the client's messages go to the
 * exchange (sasl-init's initial response, then a sasl-response to each sasl-challenge), ok carries
 * the mechanism's final data (SCRAM's server signature), and a refusal is outcome auth and the end
 * of the socket. The proved exchange goes to core with the open. An authenticator that runs no
 * exchanges (the default, which lets everyone in) gets PLAIN's user and password at the open, as
 * before there was security.
 */

/** [AMQP 5.3.3.6] sasl-code. */
export const SaslCode = { ok: 0, auth: 1, sys: 2, sysPerm: 3, sysTemp: 4 } as const;
type SaslCode = (typeof SaslCode)[keyof typeof SaslCode];

/** Mechanisms whose client speaks first: a sasl-init without an initial response gets an empty challenge ([RFC 4422] 5). */
const RESPONSE_OPTIONAL: ReadonlySet<string> = new Set(['ANONYMOUS', 'EXTERNAL']);

export function mechanismsFrame(mechanisms: readonly string[]): Buffer {
  return saslFrame(Performative.saslMechanisms, [put.symbols(mechanisms)]);
}

function challengeFrame(challenge: Buffer): Buffer {
  return saslFrame(Performative.saslChallenge, [put.binary(challenge)]);
}

function outcomeFrame(code: SaslCode, additionalData?: Buffer): Buffer {
  return saslFrame(Performative.saslOutcome, [put.ubyte(code), additionalData === undefined ? undefined : put.binary(additionalData)]);
}

/** What the connection does for its SASL layer. */
export interface SaslHost {
  readonly broker: BrokerAccess;
  readonly logger: Logger;
  readonly facts: TransportFacts;
  readonly remoteAddress: string;
  write(frame: Buffer): void;
  /** The authenticator is deciding: what the client sends next waits, unread. */
  hold(): void;
  /** Reads on: what waited, then the socket. */
  readOn(): void;
  /** The outcome was ok: the client starts over with the AMQP header, and opens with these credentials. */
  succeeded(credentials: Credentials): void;
  /** The outcome refused the client (or the exchange broke its rules): the socket ends. */
  refused(): void;
  /** The connection has failed or closed meanwhile: a late answer is dropped. */
  readonly gone: boolean;
}

export class SaslServer {
  private readonly offered: readonly string[];
  private exchange: SaslExchange | undefined;
  /** What the layer waits for from the client. */
  private expecting: 'init' | 'response' | 'nothing' = 'init';
  /** A sasl-outcome has gone out. */
  private decided = false;

  /** The user name the client's first message gives, for the log line of a refusal. */
  private claimedUser: string | undefined;

  constructor(private readonly host: SaslHost) {
    this.offered = host.broker.saslMechanisms(host.facts);
    host.write(mechanismsFrame(this.offered));
  }

  /**
   * The connection fails before the exchange has decided (a frame out of place, bytes that are no
   * frame): the client hears sys-perm, the SASL layer's only way to say it will not go on
   * ([AMQP 5.3.3.6]), before the socket ends.
   */
  abort(): void {
    if (!this.decided) this.outcome(SaslCode.sysPerm);
  }

  private outcome(code: SaslCode, additionalData?: Buffer): void {
    this.decided = true;
    this.host.write(outcomeFrame(code, additionalData));
  }

  frame(code: number, fields: readonly AmqpValue[]): void {
    if (code === Performative.saslInit && this.expecting === 'init') return this.init(fields);
    if (code === Performative.saslResponse && this.expecting === 'response') return this.response(fields);
    throw new FerryError('FERRY_AMQP_PROTOCOL', `SASL frame 0x${code.toString(16)} where ${this.expecting === 'init' ? 'a sasl-init' : this.expecting === 'response' ? 'a sasl-response' : 'nothing'} is expected`);
  }

  private init(fields: readonly AmqpValue[]): void {
    const mechanism = stringField(fields, 0, 'mechanism') ?? '';
    const response = fields[1];
    const bytes = Buffer.isBuffer(response) ? response : undefined;
    if (!this.offered.includes(mechanism)) {
      this.refuse(new FerryError('FERRY_AUTHENTICATION_FAILED', `the client chose SASL ${mechanism}, which is not offered here (offered: ${this.offered.join(', ')})`), mechanism);
      return;
    }
    const exchange = this.host.broker.startSasl(mechanism, this.host.facts);
    if (exchange === undefined) return this.withoutExchange(mechanism, bytes);
    this.exchange = exchange;
    if (bytes === undefined && !RESPONSE_OPTIONAL.has(mechanism)) {
      this.expecting = 'response';
      this.host.write(challengeFrame(Buffer.alloc(0)));
      return;
    }
    this.step(bytes ?? Buffer.alloc(0));
  }

  private response(fields: readonly AmqpValue[]): void {
    const response = fields[0];
    if (!Buffer.isBuffer(response)) throw new FerryError('FERRY_AMQP_DECODE', 'a sasl-response without its response');
    this.step(response);
  }

  /** Hands the client's message to the exchange; input waits until it has answered. */
  private step(message: Buffer): void {
    const exchange = this.exchange!;
    this.claimedUser ??= claimedUser(exchange.mechanism, message);
    this.expecting = 'nothing';
    this.host.hold();
    exchange.respond(message).then(
      (step: SaslStep) => {
        if (this.host.gone) return;
        if (step.done) {
          this.outcome(SaslCode.ok, step.additionalData);
          this.host.succeeded({ exchange });
        } else {
          this.expecting = 'response';
          this.host.write(challengeFrame(step.challenge));
        }
        this.host.readOn();
      },
      (err: unknown) => {
        if (this.host.gone) return;
        this.refuse(err, exchange.mechanism);
      },
    );
  }

  /** PLAIN and ANONYMOUS for an authenticator that runs no exchanges: the credentials go to core with the open. */
  private withoutExchange(mechanism: string, bytes: Buffer | undefined): void {
    if (mechanism === 'PLAIN') {
      // authzid NUL authcid NUL password [RFC 4616]
      const parts = bytes?.toString('utf8').split('\u0000') ?? [];
      this.claimedUser = parts[1];
      if (parts.length !== 3) return this.refuse(new FerryError('FERRY_SASL_MALFORMED', 'a PLAIN response is authzid NUL user NUL password'), mechanism);
      this.outcome(SaslCode.ok);
      return this.host.succeeded({ username: parts[1], password: parts[2] });
    }
    if (mechanism === 'ANONYMOUS') {
      // the optional trace information (some clients send their user name there)
      this.outcome(SaslCode.ok);
      return this.host.succeeded({ username: bytes !== undefined && bytes.length > 0 ? bytes.toString('utf8') : 'anonymous' });
    }
    this.refuse(new FerryError('FERRY_AUTHENTICATION_FAILED', `SASL ${mechanism} is offered but the authenticator cannot run it`), mechanism);
  }

  /**
   * [AMQP 5.3.3.6] auth for credentials refused or a message breaking the mechanism's rules (the
   * client learns no more than a wrong password tells it); sys-temp for a user directory that did
   * not answer (nothing was judged; the client may try again); sys for the broker's own failure.
   */
  private refuse(err: unknown, mechanism: string): void {
    const clientSide = isFerryError(err) && (err.code === 'FERRY_AUTHENTICATION_FAILED' || err.code === 'FERRY_SASL_MALFORMED');
    const unavailable = isFerryError(err, 'FERRY_DIRECTORY_UNAVAILABLE');
    if (clientSide || unavailable) {
      // the user name the client claimed, so an operator sees who failed; never the password
      this.host.logger.warn({ event: 'amqp.sasl-refused', mechanism, user: this.claimedUser, code: err.code, message: err.message, remote: this.host.remoteAddress }, 'AMQP SASL login refused');
    } else {
      this.host.logger.error({ event: 'amqp.sasl-error', mechanism, err, remote: this.host.remoteAddress }, 'AMQP SASL exchange failed');
    }
    this.expecting = 'nothing';
    this.outcome(clientSide ? SaslCode.auth : unavailable ? SaslCode.sysTemp : SaslCode.sys);
    this.host.refused();
  }
}

/** The user name a PLAIN response (authzid NUL user NUL password) or a SCRAM client-first message (`n,,n=user,r=...`) claims. */
function claimedUser(mechanism: string, message: Buffer): string | undefined {
  const text = message.toString('utf8');
  if (mechanism === 'PLAIN') return text.split('\u0000')[1];
  if (mechanism.startsWith('SCRAM-')) {
    // RFC 5802: '=2C' and '=3D' stand for ',' and '='
    const name = /^[^,]*,[^,]*,n=([^,]*)/.exec(text)?.[1];
    return name?.replace(/=2C/g, ',').replace(/=3D/g, '=');
  }
  return undefined;
}
