import type { TransportConnection } from '../../transport/index.js';
import { FRAME_END, FRAME_METHOD } from './methods.js';
import { bodyFramesSize, writeBodyFrames, writeContentHeader } from './frames.js';

/**
 * basic.deliver, basic.get-ok and basic.return with their content, written as one buffer: the method
 * frame, the content header frame (the message's properties, encoded once per message) and the body
 * frames. This is the broker's hot path, so it is written field by field, not through the method
 * table, and into the transport's write slab when it fits there. `methodId` is 60 (deliver), 71
 * (get-ok) or 50 (return); `text` is the consumer tag (deliver) or the reply text (return); `count`
 * is the messages left (get-ok) or the reply code (return).
 */
export function writeContent(
  transport: TransportConnection,
  channel: number,
  methodId: 60 | 71 | 50,
  text: Buffer,
  deliveryTag: number,
  redelivered: boolean,
  exchange: string,
  routingKey: string,
  count: number,
  properties: Buffer,
  body: Buffer,
  frameMax: number,
): void {
  const exchangeLength = Buffer.byteLength(exchange);
  const keyLength = Buffer.byteLength(routingKey);
  let args: number;
  if (methodId === 60) args = 1 + text.length + 8 + 1 + 1 + exchangeLength + 1 + keyLength;
  else if (methodId === 71) args = 8 + 1 + 1 + exchangeLength + 1 + keyLength + 4;
  else args = 2 + 1 + text.length + 1 + exchangeLength + 1 + keyLength;
  const methodSize = 4 + args;
  const total = 8 + methodSize + 20 + properties.length + bodyFramesSize(body.length, frameMax);
  const reserved = transport.reserve?.(total);
  const out = reserved ?? Buffer.allocUnsafe(total);
  out[0] = FRAME_METHOD;
  out.writeUInt16BE(channel, 1);
  out.writeUInt32BE(methodSize, 3);
  out.writeUInt16BE(60, 7);
  out.writeUInt16BE(methodId, 9);
  let at = 11;
  if (methodId === 50) {
    out.writeUInt16BE(count, at);
    at += 2;
    out[at++] = text.length;
    at += text.copy(out, at);
  } else {
    if (methodId === 60) {
      out[at++] = text.length;
      at += text.copy(out, at);
    }
    out.writeUInt32BE(Math.floor(deliveryTag / 0x100000000), at);
    out.writeUInt32BE(deliveryTag >>> 0, at + 4);
    at += 8;
    out[at++] = redelivered ? 1 : 0;
  }
  out[at++] = exchangeLength;
  at += out.write(exchange, at, 'utf8');
  out[at++] = keyLength;
  at += out.write(routingKey, at, 'utf8');
  if (methodId === 71) {
    out.writeUInt32BE(count, at);
    at += 4;
  }
  out[at++] = FRAME_END;
  at = writeContentHeader(out, at, channel, body.length, properties);
  writeBodyFrames(out, at, channel, body, frameMax);
  if (reserved === undefined) transport.write(out);
  else transport.sendReserved?.();
}

/** A short string's bytes, for a consumer tag written into every delivery. */
export function shortString(text: string): Buffer {
  const b = Buffer.from(text, 'utf8');
  return b.length <= 255 ? b : b.subarray(0, 255);
}
