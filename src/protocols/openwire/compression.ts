import { inflate, inflateSync } from 'node:zlib';
import { FerryError } from '../../errors.js';
import { T, type WireMessage } from './commands.js';

/**
 * The most a compressed body may inflate to on the event loop (a millisecond or two of work); one
 * that inflates further is inflated again in zlib's thread pool, so a large one does not stall
 * every other client of the broker while it inflates.
 */
const INLINE_INFLATE_LIMIT = 1024 * 1024;

function tooLarge(limit: number): FerryError {
  return new FerryError('FERRY_OPENWIRE_BODY_TOO_LARGE', `a compressed body that inflates past ${limit} bytes (openwire.maxFrameSize)`);
}

/** What zlib's failure to inflate means for the client. */
function failure(err: unknown, limit: number): FerryError {
  if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return tooLarge(limit);
  return new FerryError('FERRY_OPENWIRE_MALFORMED', `a compressed body does not inflate: ${(err as Error).message}`);
}

/**
 * The content of a message sent compressed (`useCompression`), inflated: at most `limit` bytes,
 * what the body could have been sent as uncompressed, however small its deflate stream. Inflated
 * at once when it is small, else later (the promise) off the event loop. ActiveMQ puts a
 * BytesMessage's length in front of its deflate stream, and deflates its whole write buffer: what
 * inflates past that length is not the body.
 */
export function inflatedContent(wire: WireMessage, limit: number): Buffer | Promise<Buffer> {
  let stream = wire.content ?? Buffer.alloc(0);
  let length: number | undefined;
  if (wire.type === T.BYTES_MESSAGE) {
    if (stream.length < 4) throw new FerryError('FERRY_OPENWIRE_MALFORMED', 'a compressed BytesMessage without its length');
    length = stream.readInt32BE(0);
    if (length < 0) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `a compressed BytesMessage says ${length} bytes`);
    if (length > limit) throw tooLarge(limit);
    stream = stream.subarray(4);
  }
  const body = (inflated: Buffer): Buffer => {
    if (length === undefined) return inflated;
    if (length > inflated.length) throw new FerryError('FERRY_OPENWIRE_MALFORMED', `a compressed BytesMessage says ${length} bytes and inflates to ${inflated.length}`);
    return length === inflated.length ? inflated : Buffer.from(inflated.subarray(0, length));
  };
  try {
    return body(inflateSync(stream, { maxOutputLength: Math.min(limit, INLINE_INFLATE_LIMIT) }));
  } catch (err) {
    if (limit <= INLINE_INFLATE_LIMIT || (err as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') throw err instanceof FerryError ? err : failure(err, limit);
  }
  return new Promise((resolve, reject) => {
    inflate(stream, { maxOutputLength: limit }, (err, inflated) => {
      if (err !== null) reject(failure(err, limit));
      else {
        try {
          resolve(body(inflated));
        } catch (bad) {
          reject(bad);
        }
      }
    });
  });
}
