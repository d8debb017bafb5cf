import { Amqp091Error, Reply } from './errors.js';
import { FieldReader, FieldWriter, type FieldTable } from './field-table.js';
import { FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD } from './methods.js';

/** `AMQP 0 0 9 1`: the header a 0-9-1 client sends first, and the one a server answers a wrong one with. */
export const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);

/** Receives each whole frame; `payload` is a view that is only valid during the call. */
export interface FrameHandler {
  frame(type: number, channel: number, payload: Buffer): void;
}

function framing(text: string): Amqp091Error {
  return new Amqp091Error('FERRY_AMQP091_FRAMING', Reply.frameError, text);
}

/**
 * Splits the byte stream into frames, taking the input split at any byte. A frame within one chunk
 * is handed over as a view of it; one that straddles chunks is copied once, into a buffer sized
 * from its header. The size is checked against frame-max before any of the payload is kept, so a
 * client cannot make the broker buffer more than it agreed to.
 */
export class FrameReader {
  /** The negotiated frame-max (the whole frame, header and end included); 0 means no limit but the broker's. */
  frameMax: number;
  private readonly head = Buffer.alloc(7);
  private headLength = 0;
  /** The payload (and frame end) being put together across chunks. */
  private partial: Buffer | undefined;
  private partialLength = 0;

  constructor(
    frameMax: number,
    private readonly handler: FrameHandler,
  ) {
    this.frameMax = frameMax;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.partial !== undefined) {
        const n = Math.min(this.partial.length - this.partialLength, chunk.length - pos);
        chunk.copy(this.partial, this.partialLength, pos, pos + n);
        this.partialLength += n;
        pos += n;
        if (this.partialLength < this.partial.length) return;
        const whole = this.partial;
        this.partial = undefined;
        this.deliver(whole, 0);
        continue;
      }
      if (this.headLength === 0 && chunk.length - pos >= 7) {
        const type = chunk[pos]!;
        const channel = chunk.readUInt16BE(pos + 1);
        const size = chunk.readUInt32BE(pos + 3);
        this.check(type, size);
        if (chunk.length - pos - 7 >= size + 1) {
          const payload = chunk.subarray(pos + 7, pos + 7 + size);
          if (chunk[pos + 7 + size] !== FRAME_END) throw framing(`a frame end of 0x${chunk[pos + 7 + size]!.toString(16)}, not 0xCE`);
          pos += 8 + size;
          this.handler.frame(type, channel, payload);
          continue;
        }
        chunk.copy(this.head, 0, pos, pos + 7);
        this.headLength = 7;
        pos += 7;
        this.startPartial(size);
        continue;
      }
      const n = Math.min(7 - this.headLength, chunk.length - pos);
      chunk.copy(this.head, this.headLength, pos, pos + n);
      this.headLength += n;
      pos += n;
      if (this.headLength < 7) return;
      this.check(this.head[0]!, this.head.readUInt32BE(3));
      this.startPartial(this.head.readUInt32BE(3));
    }
  }

  private startPartial(size: number): void {
    this.partial = Buffer.allocUnsafe(size + 1);
    this.partialLength = 0;
  }

  private deliver(whole: Buffer, _unused: number): void {
    const type = this.head[0]!;
    const channel = this.head.readUInt16BE(1);
    this.headLength = 0;
    const size = whole.length - 1;
    if (whole[size] !== FRAME_END) throw framing(`a frame end of 0x${whole[size]!.toString(16)}, not 0xCE`);
    this.handler.frame(type, channel, whole.subarray(0, size));
  }

  private check(type: number, size: number): void {
    if (type !== FRAME_METHOD && type !== FRAME_HEADER && type !== FRAME_BODY && type !== FRAME_HEARTBEAT) throw framing(`unknown frame type ${type}`);
    if (this.frameMax > 0 && size + 8 > this.frameMax) throw framing(`a frame of ${size + 8} bytes, over the negotiated frame-max of ${this.frameMax}`);
  }
}

/** The basic class's content properties ([AMQP 0-9-1 basic], flags from bit 15 down). */
export interface BasicProperties {
  contentType?: string;
  contentEncoding?: string;
  headers?: FieldTable;
  deliveryMode?: number;
  priority?: number;
  correlationId?: string;
  replyTo?: string;
  expiration?: string;
  messageId?: string;
  /** Seconds since the epoch. */
  timestamp?: number;
  type?: string;
  userId?: string;
  appId?: string;
  clusterId?: string;
}

export interface ContentHeader {
  readonly classId: number;
  readonly bodySize: number;
  readonly properties: BasicProperties;
}

const F_CONTENT_TYPE = 1 << 15;
const F_CONTENT_ENCODING = 1 << 14;
const F_HEADERS = 1 << 13;
const F_DELIVERY_MODE = 1 << 12;
const F_PRIORITY = 1 << 11;
const F_CORRELATION_ID = 1 << 10;
const F_REPLY_TO = 1 << 9;
const F_EXPIRATION = 1 << 8;
const F_MESSAGE_ID = 1 << 7;
const F_TIMESTAMP = 1 << 6;
const F_TYPE = 1 << 5;
const F_USER_ID = 1 << 4;
const F_APP_ID = 1 << 3;
const F_CLUSTER_ID = 1 << 2;

export function decodeContentHeader(payload: Buffer): ContentHeader {
  const r = new FieldReader(payload, 0, payload.length);
  const classId = r.u16();
  r.u16(); // weight, always 0
  const size = r.u64();
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new Amqp091Error('FERRY_AMQP091_SYNTAX', Reply.syntaxError, 'a body size past 2^53');
  let flags = r.u16();
  // bit 0 says another flag word follows; the basic class has 14 properties, so any more are unknown
  let extra = flags & 1;
  while (extra !== 0) extra = r.u16() & 1;
  const p: BasicProperties = {};
  if (flags & F_CONTENT_TYPE) p.contentType = r.shortstr();
  if (flags & F_CONTENT_ENCODING) p.contentEncoding = r.shortstr();
  if (flags & F_HEADERS) p.headers = r.table();
  if (flags & F_DELIVERY_MODE) p.deliveryMode = r.u8();
  if (flags & F_PRIORITY) p.priority = r.u8();
  if (flags & F_CORRELATION_ID) p.correlationId = r.shortstr();
  if (flags & F_REPLY_TO) p.replyTo = r.shortstr();
  if (flags & F_EXPIRATION) p.expiration = r.shortstr();
  if (flags & F_MESSAGE_ID) p.messageId = r.shortstr();
  if (flags & F_TIMESTAMP) p.timestamp = Number(r.u64());
  if (flags & F_TYPE) p.type = r.shortstr();
  if (flags & F_USER_ID) p.userId = r.shortstr();
  if (flags & F_APP_ID) p.appId = r.shortstr();
  if (flags & F_CLUSTER_ID) p.clusterId = r.shortstr();
  flags = 0;
  return { classId, bodySize: Number(size), properties: p };
}

/**
 * A content header frame's payload after its body size: the property flags and the properties. It
 * is the same for every delivery of a message, so a message keeps it (`Message.encodings`) and each
 * delivery copies it.
 */
export function encodeProperties(p: BasicProperties): Buffer {
  const w = new FieldWriter(64);
  w.u16(0);
  let flags = 0;
  if (p.contentType !== undefined) {
    flags |= F_CONTENT_TYPE;
    w.shortstr(p.contentType);
  }
  if (p.contentEncoding !== undefined) {
    flags |= F_CONTENT_ENCODING;
    w.shortstr(p.contentEncoding);
  }
  if (p.headers !== undefined) {
    flags |= F_HEADERS;
    w.table(p.headers);
  }
  if (p.deliveryMode !== undefined) {
    flags |= F_DELIVERY_MODE;
    w.u8(p.deliveryMode);
  }
  if (p.priority !== undefined) {
    flags |= F_PRIORITY;
    w.u8(p.priority);
  }
  if (p.correlationId !== undefined) {
    flags |= F_CORRELATION_ID;
    w.shortstr(p.correlationId);
  }
  if (p.replyTo !== undefined) {
    flags |= F_REPLY_TO;
    w.shortstr(p.replyTo);
  }
  if (p.expiration !== undefined) {
    flags |= F_EXPIRATION;
    w.shortstr(p.expiration);
  }
  if (p.messageId !== undefined) {
    flags |= F_MESSAGE_ID;
    w.shortstr(p.messageId);
  }
  if (p.timestamp !== undefined) {
    flags |= F_TIMESTAMP;
    w.u64(p.timestamp);
  }
  if (p.type !== undefined) {
    flags |= F_TYPE;
    w.shortstr(p.type);
  }
  if (p.userId !== undefined) {
    flags |= F_USER_ID;
    w.shortstr(p.userId);
  }
  if (p.appId !== undefined) {
    flags |= F_APP_ID;
    w.shortstr(p.appId);
  }
  if (p.clusterId !== undefined) {
    flags |= F_CLUSTER_ID;
    w.shortstr(p.clusterId);
  }
  const out = w.take();
  out.writeUInt16BE(flags, 0);
  return out;
}

/** The properties part of a content header payload (after class, weight and size), as the client sent it. */
export function propertiesBytes(headerPayload: Buffer): Buffer {
  return headerPayload.subarray(12);
}

/** A content header frame for `bodySize` bytes whose properties are already encoded. */
export function encodeContentHeader(channel: number, bodySize: number, properties: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(7 + 12 + properties.length + 1);
  writeContentHeader(frame, 0, channel, bodySize, properties);
  return frame;
}

export function writeContentHeader(out: Buffer, at: number, channel: number, bodySize: number, properties: Buffer): number {
  out[at] = FRAME_HEADER;
  out.writeUInt16BE(channel, at + 1);
  out.writeUInt32BE(12 + properties.length, at + 3);
  out.writeUInt16BE(60, at + 7);
  out.writeUInt16BE(0, at + 9);
  out.writeUInt32BE(Math.floor(bodySize / 0x100000000), at + 11);
  out.writeUInt32BE(bodySize >>> 0, at + 15);
  properties.copy(out, at + 19);
  out[at + 19 + properties.length] = FRAME_END;
  return at + 20 + properties.length;
}

/** Writes `body` as body frames of at most `frameMax` bytes each; returns the end position. */
export function writeBodyFrames(out: Buffer, at: number, channel: number, body: Buffer, frameMax: number): number {
  const most = frameMax - 8;
  for (let from = 0; from < body.length; from += most) {
    const n = Math.min(most, body.length - from);
    out[at] = FRAME_BODY;
    out.writeUInt16BE(channel, at + 1);
    out.writeUInt32BE(n, at + 3);
    body.copy(out, at + 7, from, from + n);
    out[at + 7 + n] = FRAME_END;
    at += 8 + n;
  }
  return at;
}

/** Bytes that the body frames of a body of `size` take. */
export function bodyFramesSize(size: number, frameMax: number): number {
  const most = frameMax - 8;
  return size + 8 * Math.ceil(size / most);
}

export const HEARTBEAT_FRAME = Buffer.from([FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
