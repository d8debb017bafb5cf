/**
 * Watches the raw byte stream of one connection before the connection splits it into frames, and
 * stops it at the first thing that is not AMQP framing: a wrong protocol header, a frame whose size
 * is under 8 bytes or over the broker's max-frame-size, a data offset outside the frame, or a frame
 * type that does not belong to the layer (SASL frames are type 1, AMQP frames type 0). So no frame
 * of any announced size is buffered, and a bad header is answered with the broker's own header as
 * the specification asks ([AMQP 2.2]).
 *
 * It only looks: chunks pass on unchanged, and it copies at most the 8 bytes of a header or frame
 * head that straddle two chunks, so input may be split at any byte.
 */

export type GuardFailure =
  | { readonly kind: 'header'; readonly reply: Buffer; readonly message: string }
  | { readonly kind: 'frame'; readonly message: string };

const AMQP = [0x41, 0x4d, 0x51, 0x50];
const PROTOCOL_AMQP = 0;
const PROTOCOL_SASL = 3;
const FRAME_AMQP = 0;
const FRAME_SASL = 1;

export function protocolHeader(protocolId: number): Buffer {
  return Buffer.from([...AMQP, protocolId, 1, 0, 0]);
}

export class FrameGuard {
  private readonly head = Buffer.alloc(8);
  private have = 0;
  private expecting: 'header' | 'frame' = 'header';
  private layer: 'sasl' | 'amqp' = 'amqp';
  /** Header the next one must carry: any supported one first, AMQP after SASL. */
  private nextHeader: 'any' | 'amqp' = 'any';
  private bodyLeft = 0;
  private failed: GuardFailure | undefined;

  constructor(private readonly maxFrameSize: number) {}

  /**
   * Checks one chunk; returns the failure once the stream goes wrong, and the same one ever after.
   * `whole` hears of every AMQP-layer frame that lies entirely within the chunk, in order, as soon
   * as its head has been checked (the broker reads transfers itself; see transfers.ts).
   */
  push(chunk: Buffer, whole?: (start: number, end: number) => void): GuardFailure | undefined {
    if (this.failed !== undefined) return this.failed;
    let at = 0;
    while (at < chunk.length) {
      if (this.bodyLeft > 0) {
        const skip = Math.min(this.bodyLeft, chunk.length - at);
        this.bodyLeft -= skip;
        at += skip;
        continue;
      }
      if (this.expecting === 'frame' && this.have === 0 && this.layer === 'sasl' && chunk[at] === AMQP[0]) {
        // after a successful SASL exchange the client starts over with an AMQP header; no frame of
        // an acceptable size starts with 0x41, so this cannot be confused with one
        this.expecting = 'header';
        this.nextHeader = 'amqp';
      }
      const take = Math.min(8 - this.have, chunk.length - at);
      chunk.copy(this.head, this.have, at, at + take);
      const before = this.have;
      this.have += take;
      at += take;
      if (this.expecting === 'header') {
        // a header that is wrong in its first bytes is answered at once, without waiting for 8
        for (let i = before; i < Math.min(this.have, 4); i++) {
          if (this.head[i] !== AMQP[i]) return this.fail(this.badHeader());
        }
        if (this.have < 8) continue;
        this.have = 0;
        const failure = this.checkHeader();
        if (failure !== undefined) return this.fail(failure);
        continue;
      }
      if (this.have < 8) continue;
      this.have = 0;
      const failure = this.checkFrameHead();
      if (failure !== undefined) return this.fail(failure);
      const start = at - 8;
      if (whole !== undefined && before === 0 && take === 8 && this.layer === 'amqp' && start + 8 + this.bodyLeft <= chunk.length) {
        whole(start, start + 8 + this.bodyLeft);
      }
    }
    return undefined;
  }

  /** An AMQP header without SASL has been accepted: a failure after it can be told in a close frame. */
  get pastPlainHeader(): boolean {
    return this.layer === 'amqp' && this.expecting === 'frame' && this.nextHeader === 'any';
  }

  /** A SASL header (the first one) has been accepted: a failure after it can be told in a sasl-outcome. */
  get pastSaslHeader(): boolean {
    return this.layer === 'sasl' && this.expecting === 'frame' && this.nextHeader === 'any';
  }

  private fail(failure: GuardFailure): GuardFailure {
    this.failed = failure;
    return failure;
  }

  private badHeader(): GuardFailure {
    const id = this.head[4];
    const reply = protocolHeader(this.nextHeader === 'amqp' || id === PROTOCOL_AMQP ? PROTOCOL_AMQP : PROTOCOL_SASL);
    const seen = this.head.subarray(0, Math.max(1, Math.min(this.have, 8))).toString('hex');
    return { kind: 'header', reply, message: `not an AMQP 1.0 protocol header (got ${seen}); the broker speaks AMQP 1.0 with or without SASL` };
  }

  private checkHeader(): GuardFailure | undefined {
    const h = this.head;
    const id = h[4]!;
    const versionOk = h[5] === 1 && h[6] === 0 && h[7] === 0;
    const idOk = this.nextHeader === 'amqp' ? id === PROTOCOL_AMQP : id === PROTOCOL_AMQP || id === PROTOCOL_SASL;
    if (!versionOk || !idOk) return this.badHeader();
    this.layer = id === PROTOCOL_SASL ? 'sasl' : 'amqp';
    this.expecting = 'frame';
    return undefined;
  }

  private checkFrameHead(): GuardFailure | undefined {
    const h = this.head;
    const size = h.readUInt32BE(0);
    const doff = h[4]!;
    const type = h[5]!;
    if (size < 8) return { kind: 'frame', message: `frame size ${size} is smaller than a frame header` };
    if (size > this.maxFrameSize) return { kind: 'frame', message: `frame size ${size} is larger than the max-frame-size ${this.maxFrameSize}` };
    if (doff < 2 || doff * 4 > size) return { kind: 'frame', message: `data offset ${doff} does not fit a frame of ${size} bytes` };
    const expected = this.layer === 'sasl' ? FRAME_SASL : FRAME_AMQP;
    if (type !== expected) return { kind: 'frame', message: `frame type ${type} where ${this.layer === 'sasl' ? 'SASL (1)' : 'AMQP (0)'} frames are expected` };
    this.bodyLeft = size - 8;
    return undefined;
  }
}
