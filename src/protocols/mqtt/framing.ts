import { isUtf8 } from 'node:buffer';
import { FerryError } from '../../errors.js';
import type { QoS } from './mapping.js';

/**
 * MQTT's fixed header: splitting a byte stream into whole packets, and decoding the packets of the
 * message path (PUBLISH and the four acknowledgements) without a general-purpose parser. Every
 * other packet goes, whole, to mqtt-packet.
 *
 * Measured on the mqtt-qos1-1-1 benchmark (1 KiB QoS 1, one publisher, one subscriber): with
 * mqtt-packet's streaming parser on every packet, its `debug` calls, its BufferList and the packet
 * objects it builds took about a fifth of the broker's CPU; decoding these packets here took the
 * broker from 15.6 to 12-13 us of CPU per delivery and from 74k to 86-99k deliveries/s.
 */

/** Where the packets of a byte stream go; `packet` answers false when no more should be read. */
export interface PacketReceiver {
  /** A whole packet: its first byte at `buf[start]`, its variable header and payload in `buf[bodyStart..end)`. */
  packet(buf: Buffer, start: number, bodyStart: number, end: number): boolean;
  /** The fixed header does not parse; nothing more will be read. */
  malformed(error: FerryError): void;
  /** A packet announces `size` bytes (fixed header included), over the limit; nothing more will be read. */
  tooLarge(size: number): void;
}

/**
 * Splits chunks into whole packets. A packet inside one chunk is handed on as a view of it; only a
 * packet that spans chunks is copied, once, into a buffer of its size (known from its fixed header,
 * so a packet over the limit is refused before any of it is kept).
 */
export class PacketFramer {
  /** The start of a fixed header cut off by the end of a chunk (at most 4 bytes). */
  private head: Buffer | undefined;
  /** A packet spanning chunks, being filled. */
  private partial: Buffer | undefined;
  private partialFilled = 0;
  private partialBody = 0;
  private stopped = false;

  constructor(
    private readonly maxPacketSize: number,
    private readonly receiver: PacketReceiver,
  ) {}

  push(chunk: Buffer): void {
    if (this.stopped) return;
    let pos = 0;
    const partial = this.partial;
    if (partial !== undefined) {
      const n = Math.min(partial.length - this.partialFilled, chunk.length);
      chunk.copy(partial, this.partialFilled, 0, n);
      this.partialFilled += n;
      if (this.partialFilled < partial.length) return;
      this.partial = undefined;
      if (!this.receiver.packet(partial, 0, this.partialBody, partial.length)) return this.stop();
      pos = n;
    } else if (this.head !== undefined) {
      // rare (a chunk ending inside a fixed header), so the simple join is good enough
      chunk = Buffer.concat([this.head, chunk]);
      this.head = undefined;
    }
    const length = chunk.length;
    while (pos < length) {
      // remaining length: 1 to 4 bytes of 7 bits each, least significant first ([MQTT-1.5.5])
      let remaining = 0;
      let at = pos + 1;
      let shift = 0;
      let complete = false;
      while (at < length) {
        const byte = chunk[at++]!;
        remaining += (byte & 0x7f) * 2 ** shift;
        if (byte < 0x80) {
          complete = true;
          break;
        }
        shift += 7;
        if (shift === 28) {
          this.stop();
          this.receiver.malformed(new FerryError('FERRY_MQTT_MALFORMED', 'malformed packet: the remaining length takes more than 4 bytes'));
          return;
        }
      }
      if (!complete) {
        this.head = Buffer.from(chunk.subarray(pos));
        return;
      }
      const size = at - pos + remaining;
      if (size > this.maxPacketSize) {
        this.stop();
        this.receiver.tooLarge(size);
        return;
      }
      const end = pos + size;
      if (end > length) {
        const whole = Buffer.allocUnsafe(size);
        this.partialFilled = chunk.copy(whole, 0, pos);
        this.partialBody = at - pos;
        this.partial = whole;
        return;
      }
      if (!this.receiver.packet(chunk, pos, at, end)) return this.stop();
      pos = end;
    }
  }

  private stop(): void {
    this.stopped = true;
    this.head = undefined;
    this.partial = undefined;
  }
}

/** A PUBLISH as the session needs it; `payload` is a view of the packet's bytes. */
export interface PublishView {
  readonly topic: string;
  readonly qos: QoS;
  readonly dup: boolean;
  readonly retain: boolean;
  /** 0 for QoS 0. */
  readonly packetId: number;
  readonly payload: Buffer;
}

/** A topic name and its bytes, so that a PUBLISH to the same topic as the one before need not decode it again. */
export interface KnownTopic {
  readonly bytes: Buffer;
  readonly text: string;
}

/**
 * Refuses a packet in which mqtt-packet left a property null: it does so, instead of an error, for a
 * string or binary property whose length runs past the packet's end (found by fuzzing: a PUBLISH
 * whose Correlation Data was cut short).
 */
export function checkPropertiesWhole(packet: { readonly properties?: object; readonly will?: { readonly properties?: object } | null }): void {
  for (const properties of [packet.properties, packet.will?.properties]) {
    if (properties === undefined || properties === null) continue;
    for (const [name, value] of Object.entries(properties)) {
      if (value === null) throw malformed(`property ${name} runs past the end of the packet`);
      if (name === 'userProperties' && typeof value === 'object' && Object.values(value as object).some((v) => v === null)) {
        throw malformed('a user property runs past the end of the packet');
      }
    }
  }
}

function malformed(what: string): FerryError {
  return new FerryError('FERRY_MQTT_MALFORMED', `malformed packet: ${what}`);
}

/**
 * Decodes a PUBLISH of MQTT 3.1 or 3.1.1, or of MQTT 5 when it has no properties; undefined for an
 * MQTT 5 PUBLISH with properties, which is left to mqtt-packet. Checks what makes a packet
 * malformed; the topic name's rules (no wildcards, not empty) are the session's.
 */
export function decodePublish(buf: Buffer, start: number, bodyStart: number, end: number, v5: boolean, known?: KnownTopic): PublishView | undefined {
  const first = buf[start]!;
  const qos = (first >> 1) & 3;
  // [MQTT-3.3.1-4]
  if (qos === 3) throw malformed('a PUBLISH with both QoS bits set');
  if (bodyStart + 2 > end) throw malformed('a PUBLISH too short for its topic name');
  const topicEnd = bodyStart + 2 + ((buf[bodyStart]! << 8) | buf[bodyStart + 1]!);
  let pos = topicEnd;
  let packetId = 0;
  if (qos > 0) {
    if (pos + 2 > end) throw malformed('a PUBLISH too short for its packet identifier');
    packetId = (buf[pos]! << 8) | buf[pos + 1]!;
    // [MQTT-2.3.1-1]
    if (packetId === 0) throw malformed('a QoS 1 or 2 PUBLISH with packet identifier 0');
    pos += 2;
  } else if (pos > end) throw malformed('a PUBLISH too short for its topic name');
  // [MQTT-3.3.1-2]
  else if ((first & 0x08) !== 0) throw malformed('a QoS 0 PUBLISH with the DUP flag set');
  const topicStart = bodyStart + 2;
  let topic: string | undefined;
  if (known !== undefined && known.bytes.length === topicEnd - topicStart) {
    const bytes = known.bytes;
    let i = 0;
    while (i < bytes.length && bytes[i] === buf[topicStart + i]) i++;
    if (i === bytes.length) topic = known.text;
  }
  if (topic === undefined) {
    // [MQTT-1.5.4-1]: checked on the bytes, here for every PUBLISH, since mqtt-packet (which reads
    // those with properties) turns ill-formed UTF-8 into U+FFFD, where it can no longer be told apart
    if (!isUtf8(buf.subarray(topicStart, topicEnd))) throw malformed('a PUBLISH whose topic name is not well-formed UTF-8');
    topic = buf.toString('utf8', topicStart, topicEnd);
    // [MQTT-1.5.4-2]
    if (topic.includes('\u0000')) throw malformed('a PUBLISH whose topic name holds U+0000');
  }
  if (v5) {
    if (pos >= end) throw malformed('a PUBLISH too short for its properties');
    if (buf[pos] !== 0) return undefined;
    pos++;
  }
  return {
    topic,
    qos: qos as QoS,
    dup: (first & 0x08) !== 0,
    retain: (first & 0x01) !== 0,
    packetId,
    payload: buf.subarray(pos, end),
  };
}

/** Bytes each MQTT 5 property of a PUBLISH takes after its identifier, where the length is fixed. */
const FIXED_PROPERTY_SIZE: Readonly<Record<number, number>> = { 0x01: 1, 0x02: 4, 0x23: 2 };

/**
 * The user properties of an MQTT 5 PUBLISH that mqtt-packet has already parsed, as name/value pairs
 * in the order the packet has them. mqtt-packet groups a repeated name's values into one array,
 * which loses how names interleave; the order must reach subscribers unchanged [MQTT-3.3.2-18].
 */
export function userPropertiesInOrder(buf: Buffer, start: number, bodyStart: number, end: number): [string, string][] {
  const qos = (buf[start]! >> 1) & 3;
  let pos = bodyStart + 2 + buf.readUInt16BE(bodyStart) + (qos > 0 ? 2 : 0);
  let length = 0;
  for (let shift = 0; ; shift += 7) {
    const byte = buf[pos++]!;
    length += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
  }
  const pairs: [string, string][] = [];
  const propertiesEnd = Math.min(pos + length, end);
  const text = (): string => {
    const size = buf.readUInt16BE(pos);
    pos += 2 + size;
    return buf.toString('utf8', pos - size, pos);
  };
  while (pos < propertiesEnd) {
    const id = buf[pos++]!;
    const fixed = FIXED_PROPERTY_SIZE[id];
    if (fixed !== undefined) pos += fixed;
    else if (id === 0x0b) while (buf[pos++]! >= 0x80); // Subscription Identifier, a variable byte integer
    else if (id === 0x26) pairs.push([text(), text()]);
    else text(); // Content Type, Response Topic and Correlation Data: two-byte length and bytes
  }
  return pairs;
}
