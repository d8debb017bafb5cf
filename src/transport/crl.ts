import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

/** One certificate revocation list of a `tls.crl` file. */
export interface RevocationList {
  /** Its PEM block, as Node's `crl` option takes it. */
  readonly pem: string;
  /** When its issuer published it, and when it promised the next one (absent: no promise). */
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
}

const PEM_CRL = /-----BEGIN X509 CRL-----[^]*?-----END X509 CRL-----/g;

/**
 * The CRLs of a PEM file, each on its own: Node reads only the first CRL of a buffer and drops
 * the rest without a word, so a file holding the lists of two authorities would revoke nothing
 * the second one signed. A file without a CRL does not load, as a CA file without a certificate does not.
 */
export function revocationLists(path: string): RevocationList[] {
  const text = readFileSync(path, 'latin1');
  const blocks = text.match(PEM_CRL) ?? [];
  const begun = text.split('-----BEGIN X509 CRL-----').length - 1;
  if (begun === 0) throw new Error(`the crl file ${path} holds no PEM CRL (-----BEGIN X509 CRL-----)`);
  if (blocks.length !== begun) throw new Error(`the crl file ${path} has a CRL without its END line`);
  return blocks.map((pem, index) => {
    try {
      createSecureContext({ crl: pem });
      return { pem, ...updateTimes(Buffer.from(pem.replace(/-----[^-]+-----/g, ''), 'base64')) };
    } catch (err) {
      throw new Error(`CRL ${index + 1} of the crl file ${path} does not parse: ${(err as Error).message}`, { cause: err });
    }
  });
}

interface Element {
  readonly tag: number;
  /** Where its content starts and ends. */
  readonly start: number;
  readonly end: number;
}

/** The DER element at `at` ([X.690] 8.1: tag, length in short or long form, content). */
function element(der: Buffer, at: number): Element {
  const tag = der[at];
  let length = der[at + 1];
  if (tag === undefined || length === undefined) throw new Error('DER cut short');
  let start = at + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4) throw new Error('DER length out of range');
    length = der.readUIntBE(start, octets);
    start += octets;
  }
  if (start + length > der.length) throw new Error('DER cut short');
  return { tag, start, end: start + length };
}

const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;

/** [RFC 5280] 5.1: CertificateList ::= SEQUENCE { tbsCertList SEQUENCE { version INTEGER OPTIONAL, signature, issuer, thisUpdate, nextUpdate OPTIONAL, ... } ... } */
function updateTimes(der: Buffer): { thisUpdate: Date; nextUpdate: Date | undefined } {
  const tbs = element(der, element(der, 0).start);
  let field = element(der, tbs.start);
  if (field.tag === 0x02) field = element(der, field.end); // past the version, to the signature algorithm
  field = element(der, field.end); // the issuer
  const thisUpdate = element(der, field.end);
  const next = thisUpdate.end < tbs.end ? element(der, thisUpdate.end) : undefined;
  return { thisUpdate: time(der, thisUpdate), nextUpdate: next !== undefined && (next.tag === UTC_TIME || next.tag === GENERALIZED_TIME) ? time(der, next) : undefined };
}

/** `YYMMDDHHMMSSZ` (years 50-99 are 19xx, [RFC 5280] 4.1.2.5.1) or `YYYYMMDDHHMMSSZ`. */
function time(der: Buffer, field: Element): Date {
  const text = der.toString('latin1', field.start, field.end);
  const full = field.tag === UTC_TIME ? `${Number(text.slice(0, 2)) >= 50 ? '19' : '20'}${text}` : text;
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(full);
  if ((field.tag !== UTC_TIME && field.tag !== GENERALIZED_TIME) || match === null) throw new Error(`not a time: ${text}`);
  const [, y, mo, d, h, mi, s] = match.map(Number) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}
