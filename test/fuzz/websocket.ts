import { mqtt5Target } from './mqtt.js';
import type { LengthField, Seed } from './mutate.js';
import { stompTarget } from './stomp.js';
import type { FuzzTarget, Reply } from './target.js';

/**
 * WebSocket framing fuzzed for itself: the frames that carry STOMP and MQTT on the WebSocket port,
 * mutated in their opcodes, flags, masks and lengths, fragmented, interleaved with control frames,
 * sent unmasked. The protocol inside is the one its own target fuzzes; here what matters is that
 * a bad WebSocket frame gets a close frame with its code ([RFC 6455 7.4.1]: 1002, 1007, 1009) or
 * the protocol's error, and that nothing else is harmed.
 */

const Opcode = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

interface FrameShape {
  readonly fin?: boolean;
  readonly rsv?: number;
  /** A client's frames are masked ([RFC 6455 5.3]); an unmasked one is a protocol error. */
  readonly masked?: boolean;
  /** The 64-bit length form even for a short payload: its low word is a length the server must check from the header. */
  readonly longLength?: boolean;
  readonly key?: readonly [number, number, number, number];
}

/** A client frame, with its length fields marked for the mutator and the payload's own lengths moved to where the payload lands. */
function wsFrame(name: string, opcode: number, payload: Buffer, shape: FrameShape = {}, inner: readonly LengthField[] = []): Seed {
  const masked = shape.masked ?? true;
  const key = shape.key ?? [0x37, 0xfa, 0x21, 0x3d];
  const long = shape.longLength === true || payload.length > 0xffff;
  const extended = long ? 8 : payload.length >= 126 ? 2 : 0;
  const head = Buffer.alloc(2 + extended + (masked ? 4 : 0));
  head[0] = ((shape.fin ?? true) ? 0x80 : 0) | ((shape.rsv ?? 0) << 4) | opcode;
  head[1] = (masked ? 0x80 : 0) | (long ? 127 : extended === 2 ? 126 : payload.length);
  if (long) head.writeBigUInt64BE(BigInt(payload.length), 2);
  else if (extended === 2) head.writeUInt16BE(payload.length, 2);
  if (masked) head.set(key, 2 + extended);
  const body = Buffer.from(payload);
  if (masked) for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ key[i % 4]!;
  const lengths: LengthField[] = [];
  // the 64-bit form's low word: 'huge' is past any payload limit, which the header alone shows
  if (long) lengths.push({ at: 6, kind: 'uint', width: 4, outer: true });
  else if (extended === 2) lengths.push({ at: 2, kind: 'uint', width: 2 });
  // the payload's own lengths are only meaningful unmasked: with the zero key the bytes are the
  // payload's. None of them is outer here: a length made longer also moves the frame's end past what
  // its WebSocket header says, so the decoder inside may never see it whole
  if (masked && key.every((b) => b === 0)) lengths.push(...inner.map((f) => ({ ...f, at: f.at + head.length, outer: false })));
  return { name, bytes: Buffer.concat([head, body]), lengths };
}

const ZERO_KEY = [0, 0, 0, 0] as const;

/** Splits a payload into a first frame and a continuation, as a client that fragments would send it. */
function fragmented(name: string, opcode: number, payload: Buffer): Seed[] {
  const cut = Math.max(1, payload.length >> 1);
  return [wsFrame(`${name} first fragment`, opcode, payload.subarray(0, cut), { fin: false }), wsFrame(`${name} continuation`, Opcode.continuation, payload.subarray(cut))];
}

function upgradeRequest(subprotocol: string): Seed {
  const text =
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ZnV6ei13ZWJzb2NrZXQhIQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${subprotocol}\r\n\r\n`;
  return { name: 'upgrade request', bytes: Buffer.from(text, 'latin1') };
}

/** A frame's payload length ([RFC 6455 5.2]: 7 bits, or 16 or 64 after them) and where what follows it starts; undefined when cut. */
function frameLength(bytes: Buffer, at: number): { start: number; length: number } | undefined {
  const short = bytes[at + 1]! & 0x7f;
  const start = at + 2;
  if (short === 126) return start + 2 > bytes.length ? undefined : { start: start + 2, length: bytes.readUInt16BE(start) };
  if (short === 127) return start + 8 > bytes.length ? undefined : { start: start + 8, length: Number(bytes.readBigUInt64BE(start)) };
  return { start, length: short };
}

/** The server's frames after its 101 answer: unmasked, so read as they are; stops at a cut frame. */
export function serverFrames(received: Buffer): { status: number | undefined; frames: { opcode: number; payload: Buffer }[] } {
  const headEnd = received.indexOf('\r\n\r\n');
  if (headEnd < 0) return { status: undefined, frames: [] };
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received.toString('latin1', 0, Math.min(headEnd, 64)))?.[1]);
  const frames: { opcode: number; payload: Buffer }[] = [];
  if (status !== 101) return { status, frames };
  let at = headEnd + 4;
  while (at + 2 <= received.length) {
    const head = frameLength(received, at);
    if (head === undefined) break;
    const { start, length } = head;
    if (start + length > received.length) break;
    frames.push({ opcode: received[at]! & 0x0f, payload: received.subarray(start, start + length) });
    at = start + length;
  }
  return { status, frames };
}

/** A client's frames (masked or not), unmasked: what the server's WebSocket layer would hand on; the last may be cut. */
function clientPayloads(sent: Buffer): { opcode: number; payload: Buffer }[] {
  const out: { opcode: number; payload: Buffer }[] = [];
  let at = sent.indexOf('\r\n\r\n') >= 0 && sent.toString('latin1', 0, 3) === 'GET' ? sent.indexOf('\r\n\r\n') + 4 : 0;
  while (at + 2 <= sent.length) {
    const masked = (sent[at + 1]! & 0x80) !== 0;
    const head = frameLength(sent, at);
    if (head === undefined) break;
    const { length } = head;
    let { start } = head;
    const key = masked ? sent.subarray(start, start + 4) : undefined;
    if (masked) start += 4;
    // a cut frame is kept as far as it goes: what follows it (the probe) may complete it, so a cut
    // close frame still ends the connection as the client's own close
    const cut = start + length > sent.length;
    const payload = Buffer.from(sent.subarray(Math.min(start, sent.length), Math.min(start + length, sent.length)));
    if (key !== undefined) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i % 4]!;
    out.push({ opcode: sent[at]! & 0x0f, payload });
    if (cut) break;
    at = start + length;
  }
  return out;
}

/**
 * A close frame's code is an error unless it is a normal end (1000, 1001: after the probe's
 * DISCONNECT); an HTTP refusal of the upgrade is one too.
 */
function wsReply(received: Buffer, inner: (data: Buffer) => Reply): Reply {
  const { status, frames } = serverFrames(received);
  if (status === undefined) return { errors: [], probeAnswered: false };
  if (status !== 101) return { errors: [`HTTP ${status}`], probeAnswered: false };
  const errors: string[] = [];
  for (const f of frames) {
    if (f.opcode !== Opcode.close) continue;
    const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
    if (code !== 1000 && code !== 1001) errors.push(`close ${code}`);
  }
  const data = Buffer.concat(frames.filter((f) => f.opcode === Opcode.text || f.opcode === Opcode.binary || f.opcode === Opcode.continuation).map((f) => f.payload));
  const reply = inner(data);
  return { errors: [...errors, ...reply.errors], probeAnswered: reply.probeAnswered };
}

function wsTarget(name: string, subprotocol: string, inner: FuzzTarget, opcode: number): FuzzTarget {
  const carried = inner.seeds.flatMap((s, i) =>
    i % 3 === 0
      ? [wsFrame(s.name, opcode, s.bytes, { key: ZERO_KEY }, s.lengths ?? [])]
      : i % 3 === 1
      ? [wsFrame(`${s.name} (64-bit length)`, opcode, s.bytes, { longLength: true })]
      : fragmented(s.name, opcode, s.bytes),
  );
  const sample = inner.seeds[0]!.bytes;
  const seeds: Seed[] = [
    ...carried,
    wsFrame('ping', Opcode.ping, Buffer.from('are you there')),
    wsFrame('pong', Opcode.pong, Buffer.from('unasked')),
    wsFrame('unmasked', opcode, sample, { masked: false }),
    wsFrame('reserved bit', opcode, sample, { rsv: 4 }),
    wsFrame('reserved opcode', 0x3, sample),
    wsFrame('ping too long', Opcode.ping, Buffer.alloc(200, 0x61)),
    wsFrame('fragmented ping', Opcode.ping, Buffer.from('ping'), { fin: false }),
    wsFrame('stray continuation', Opcode.continuation, sample),
    wsFrame('text where binary is due', Opcode.text, sample),
    wsFrame('close with a bad code', Opcode.close, Buffer.from([0x03, 0xe7])),
    wsFrame('close with bad UTF-8', Opcode.close, Buffer.from([0x03, 0xe8, 0xc3, 0x28])),
    wsFrame('empty', opcode, Buffer.alloc(0)),
  ];
  const probe = wsFrame('probe', opcode, inner.probe).bytes;
  return {
    name,
    listener: 'websocket',
    handshake: [upgradeRequest(subprotocol), ...inner.handshake.map((s) => wsFrame(s.name, opcode, s.bytes, { key: ZERO_KEY }, s.lengths ?? []))],
    seeds,
    handshakeDone: (received) => {
      const { status, frames } = serverFrames(received);
      if (status !== 101) return false;
      const data = Buffer.concat(frames.filter((f) => f.opcode !== Opcode.close).map((f) => f.payload));
      return inner.handshakeDone(data);
    },
    probe,
    read: (received) => wsReply(received, inner.read),
    // after the upgrade every bad frame is told (a close code or the protocol's error); a close the
    // case sent itself, or the protocol's own goodbye inside a frame, ends it without one
    errorDue: (phase, sent) => {
      if (phase !== 'after') return false;
      const payloads = clientPayloads(sent);
      if (payloads.some((p) => p.opcode === Opcode.close)) return false;
      return inner.errorDue('after', Buffer.concat(payloads.map((p) => p.payload)));
    },
  };
}

/** STOMP 1.2 over WebSocket (text frames, as stomp.js sends them). */
export const wsStompTarget = wsTarget('ws-stomp', 'v12.stomp', stompTarget, Opcode.text);
/** MQTT 5 over WebSocket (binary frames only, [MQTT-6.0.0-1]). */
export const wsMqttTarget = wsTarget('ws-mqtt', 'mqtt', mqtt5Target, Opcode.binary);
