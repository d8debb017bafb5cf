import type { AmqpValue } from './codec.js';
import { Performative, put, saslFrame, stringField } from './frames.js';

/**
 * The SASL layer ([AMQP 5.3]) as the broker runs it: it offers ANONYMOUS and PLAIN and takes the
 * credentials to core with the open, where the broker's authenticator decides on them.
 */

export const MECHANISMS = ['ANONYMOUS', 'PLAIN'] as const;

/** The broker's sasl-mechanisms frame. */
export function mechanismsFrame(): Buffer {
  return saslFrame(Performative.saslMechanisms, [put.symbols(MECHANISMS)]);
}

/** A sasl-outcome: 0 ok, 1 auth (the credentials were refused). */
export function outcomeFrame(code: 0 | 1): Buffer {
  return saslFrame(Performative.saslOutcome, [put.ubyte(code)]);
}

/** What a sasl-init said: the user name and password, or not ok for a mechanism the broker does not offer. */
export function readInit(fields: readonly AmqpValue[]): { readonly ok: boolean; readonly user: string | undefined; readonly password?: string } {
  const mechanism = stringField(fields, 0, 'mechanism');
  const response = fields[1];
  const bytes = Buffer.isBuffer(response) ? response : undefined;
  if (mechanism === 'PLAIN') {
    // authzid NUL authcid NUL password
    if (bytes === undefined) return { ok: false, user: undefined };
    const parts = bytes.toString('utf8').split('\u0000');
    if (parts.length !== 3) return { ok: false, user: undefined };
    return { ok: true, user: parts[1], password: parts[2]! };
  }
  if (mechanism === 'ANONYMOUS') {
    // the optional trace information (some clients send their user name there)
    return { ok: true, user: bytes !== undefined && bytes.length > 0 ? bytes.toString('utf8') : 'anonymous' };
  }
  return { ok: false, user: undefined };
}
