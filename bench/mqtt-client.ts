// A minimal MQTT 3.1.1 client for the load generator: CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH and
// PUBACK, written by hand. Packets are parsed straight out of the socket's chunks (only a packet cut
// by a chunk boundary is copied), which keeps a ten-subscriber fan-out from measuring the parser.

import net from 'node:net';
import tls from 'node:tls';
import { nowUs } from './clock.js';

export const PacketType = {
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  subscribe: 8,
  suback: 9,
  pingresp: 13,
  disconnect: 14,
} as const;

/** The MQTT "remaining length": 1 to 4 bytes, 7 bits each, least significant first. */
export function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return Buffer.from(bytes);
}

export function mqttString(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(2 + body.length);
  out.writeUInt16BE(body.length, 0);
  body.copy(out, 2);
  return out;
}

export function packet(firstByte: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);
}

/**
 * CONNECT, protocol level 4 (3.1.1), clean session; keep-alive 0 switches the broker's timeout off.
 * With `login`, the user name and password flags are set and both follow the client id [MQTT-3.1.3-1].
 */
export function connectPacket(clientId: string, keepAliveSeconds = 0, login?: { user: string; password: string }): Buffer {
  const keepAlive = Buffer.allocUnsafe(2);
  keepAlive.writeUInt16BE(keepAliveSeconds, 0);
  const flags = login === undefined ? 0x02 : 0xc2;
  const credentials = login === undefined ? [] : [mqttString(login.user), mqttString(login.password)];
  return packet(PacketType.connect << 4, mqttString('MQTT'), Buffer.from([4, flags]), keepAlive, mqttString(clientId), ...credentials);
}

/** A secure connection: TLS trusting `ca`, and CONNECT with a user name and password. */
export interface MqttSecurity {
  readonly ca: string;
  readonly user: string;
  readonly password: string;
}

export function subscribePacket(packetId: number, topic: string, qos: number): Buffer {
  const id = Buffer.allocUnsafe(2);
  id.writeUInt16BE(packetId, 0);
  return packet((PacketType.subscribe << 4) | 0x02, id, mqttString(topic), Buffer.from([qos]));
}

export const DISCONNECT = Buffer.from([PacketType.disconnect << 4, 0]);

/**
 * Called for each packet with the chunk that holds it: `type` and `flags` from the first byte, the
 * body at `chunk[start, end)`. The chunk is only valid during the call.
 */
export type PacketHandler = (type: number, flags: number, chunk: Buffer, start: number, end: number, recvUs: number) => void;

/** Splits a byte stream into MQTT packets. */
export class PacketReader {
  private rest: Buffer | undefined;

  constructor(
    private readonly onPacket: PacketHandler,
    private readonly onChunkEnd: () => void = () => undefined,
  ) {}

  push(chunk: Buffer): void {
    const recvUs = nowUs();
    let data = chunk;
    if (this.rest !== undefined) {
      data = Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
    }
    let at = 0;
    const size = data.length;
    while (at < size) {
      if (size - at < 2) break;
      let length = 0;
      let multiplier = 1;
      let p = at + 1;
      let complete = false;
      for (let i = 0; i < 4 && p < size; i++) {
        const byte = data[p++] as number;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (p - at > 4) throw new Error('malformed MQTT remaining length');
        break;
      }
      if (p + length > size) break;
      const first = data[at] as number;
      this.onPacket(first >> 4, first & 0x0f, data, p, p + length, recvUs);
      at = p + length;
    }
    if (at < size) this.rest = Buffer.from(data.subarray(at));
    this.onChunkEnd();
  }
}

export interface MqttConnection {
  socket: net.Socket;
  reader: PacketReader;
}

/**
 * Opens a socket, sends CONNECT and resolves once CONNACK accepts it. `onPacket` takes every later
 * packet; `onChunkEnd` runs after each socket read.
 */
export function connectMqtt(
  host: string,
  port: number,
  clientId: string,
  onPacket: PacketHandler,
  onChunkEnd?: () => void,
  secure?: MqttSecurity,
): Promise<MqttConnection> {
  return new Promise((resolve, reject) => {
    // the plain path stays a bare socket: TLS only where the scenario asks for it
    const socket = secure === undefined ? net.connect({ host, port }) : tls.connect({ host, port, ca: secure.ca });
    socket.setNoDelay(true);
    let connected = false;
    const reader = new PacketReader((type, flags, chunk, start, end, recvUs) => {
      if (connected) {
        onPacket(type, flags, chunk, start, end, recvUs);
        return;
      }
      if (type !== PacketType.connack || end - start < 2) {
        reject(new Error(`expected CONNACK, got packet type ${type}`));
        socket.destroy();
        return;
      }
      const code = chunk[start + 1];
      if (code !== 0) {
        reject(new Error(`the broker refused CONNECT (return code ${code})`));
        socket.destroy();
        return;
      }
      connected = true;
      resolve({ socket, reader });
    }, onChunkEnd);
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    socket.once('error', (err) => {
      if (!connected) reject(err);
    });
    socket.once('close', () => {
      if (!connected) reject(new Error('the broker closed the connection before CONNACK'));
    });
    if (secure === undefined) socket.once('connect', () => socket.write(connectPacket(clientId)));
    else socket.once('secureConnect', () => socket.write(connectPacket(clientId, 0, secure)));
  });
}
