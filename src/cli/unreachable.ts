import { FerryError, isFerryError } from '../errors.js';

// what Node's TLS says when the broker's certificate is not one this side trusts
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Why a tool did not get through to the broker at `where`: its certificate is not trusted
 * (FERRY_CLI_UNTRUSTED, which a broker that is down never causes), or it could not be reached.
 */
export function notThrough(where: string, err: Error): FerryError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && UNTRUSTED.has(code)) {
    return new FerryError('FERRY_CLI_UNTRUSTED', `the broker at ${where} presented a certificate this tool does not trust: ${err.message} (give its authority with --ca)`, { cause: err });
  }
  return new FerryError('FERRY_CLI_UNREACHABLE', `cannot reach the broker at ${where}: ${err.message}`, { cause: err });
}

/** A failure to get through to the broker (exit status 2 for every tool): `notThrough`'s codes. */
export function didNotGetThrough(err: unknown): boolean {
  return isFerryError(err, 'FERRY_CLI_UNREACHABLE') || isFerryError(err, 'FERRY_CLI_UNTRUSTED');
}
