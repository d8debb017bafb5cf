// MQTT 3.1.1 for the load generator. MQTT has no headers, so the stamp travels in the first bytes of
// the payload: `phase` ('w' or 'm'), then `producer` and `seq` (uint32 BE) and `ts` (µs of nowUs(),
// a float64 BE), then filler up to the scenario's body size. The producer builds its PUBLISH once per
// phase and, per message, copies it and patches the packet id, `seq` and `ts` in place, as the STOMP
// driver does with its SEND frame. QoS 1 scenarios (`scenario.qos === 1`) publish with QoS 1, count
// each PUBACK as a confirmation (the runner keeps at most --receipt-window unacknowledged) and
// subscribe with QoS 1, the consumer acknowledging every delivery in one write per socket read.

import { randomBytes } from 'node:crypto';
import type { ConsumerEvents, ConsumerLink, FailureHandler, Phase, ProducerLink, ProtocolDriver, Target } from './drivers.js';
import type { Scenario } from './scenarios.js';
import { nowUs, stampUs } from './clock.js';
import type { SendSchedule } from './clock.js';
import { DISCONNECT, PacketType, connectMqtt, mqttString, remainingLength, subscribePacket } from './mqtt-client.js';
import type { MqttConnection } from './mqtt-client.js';

/** Bytes of the stamp at the start of every payload. */
export const STAMP_BYTES = 20;
/** Packets per write when nothing else limits the batch: about 64 KiB. */
const BATCH_BYTES = 64 * 1024;

function qosOf(scenario: Scenario): 0 | 1 {
  return scenario.qos ?? 0;
}

interface Template {
  packet: Buffer;
  /** Offset of the packet id (QoS 1 only, else -1). */
  idAt: number;
  /** Offset of the payload, where the stamp starts. */
  payloadAt: number;
}

function template(scenario: Scenario, target: Target, index: number, phase: Phase): Template {
  const qos = qosOf(scenario);
  const topic = mqttString(target.destination);
  const payload = Buffer.alloc(Math.max(STAMP_BYTES, scenario.bodyBytes), 'x');
  payload[0] = phase === 'warmup' ? 0x77 : 0x6d;
  payload.fill(0, 1, 4);
  payload.writeUInt32BE(index, 4);
  const bodyLength = topic.length + (qos > 0 ? 2 : 0) + payload.length;
  const header = Buffer.concat([Buffer.from([(PacketType.publish << 4) | (qos << 1)]), remainingLength(bodyLength)]);
  const packet = Buffer.concat([header, topic, Buffer.alloc(qos > 0 ? 2 : 0), payload]);
  return { packet, idAt: qos > 0 ? header.length + topic.length : -1, payloadAt: packet.length - payload.length };
}

function clientId(role: string, index: number): string {
  return `bench-${role}-${index}-${randomBytes(4).toString('hex')}`;
}

class MqttProducer implements ProducerLink {
  readonly batchSize: number;
  unconfirmed = 0;
  connection!: MqttConnection;
  private readonly templates: Record<Phase, Template>;
  private readonly qos: 0 | 1;
  private nextId = 1;
  private confirmWaiters: (() => void)[] = [];
  closing = false;

  constructor(scenario: Scenario, target: Target, index: number) {
    this.qos = qosOf(scenario);
    this.templates = { warmup: template(scenario, target, index, 'warmup'), measure: template(scenario, target, index, 'measure') };
    this.batchSize = Math.max(1, Math.floor(BATCH_BYTES / this.templates.measure.packet.length));
  }

  onPacket(type: number): void {
    if (type !== PacketType.puback) return;
    this.unconfirmed--;
    if (this.confirmWaiters.length > 0) {
      const waiters = this.confirmWaiters;
      this.confirmWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  send(firstSeq: number, count: number, phase: Phase, schedule?: SendSchedule): boolean {
    const { packet, idAt, payloadAt } = this.templates[phase];
    const size = packet.length;
    const out = Buffer.allocUnsafe(size * count);
    const ts = nowUs();
    for (let i = 0; i < count; i++) {
      const base = i * size;
      packet.copy(out, base);
      if (idAt >= 0) {
        out.writeUInt16BE(this.nextId, base + idAt);
        this.nextId = this.nextId === 0xffff ? 1 : this.nextId + 1;
      }
      out.writeUInt32BE((firstSeq + i) >>> 0, base + payloadAt + 8);
      out.writeDoubleBE(stampUs(schedule, ts, i), base + payloadAt + 12);
    }
    if (this.qos > 0) this.unconfirmed += count;
    return this.connection.socket.write(out);
  }

  drained(): Promise<void> {
    const socket = this.connection.socket;
    if (!socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => socket.once('drain', resolve));
  }

  confirmed(): Promise<void> {
    return new Promise((resolve) => this.confirmWaiters.push(resolve));
  }

  close(): Promise<void> {
    return closeConnection(this, this.connection);
  }
}

function closeConnection(owner: { closing: boolean }, connection: MqttConnection): Promise<void> {
  owner.closing = true;
  const socket = connection.socket;
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), 2000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.end(DISCONNECT);
  });
}

function watch(owner: { closing: boolean }, connection: MqttConnection, onFailure: FailureHandler, what: string): void {
  connection.socket.on('error', (err) => {
    if (!owner.closing) onFailure(new Error(`${what}: ${err.message}`));
  });
  connection.socket.on('close', () => {
    if (!owner.closing) onFailure(new Error(`${what}: the broker closed the connection`));
  });
}

export const mqttDriver: ProtocolDriver = {
  async openProducer(target, scenario, index, onFailure: FailureHandler): Promise<ProducerLink> {
    const producer = new MqttProducer(scenario, target, index);
    producer.connection = await connectMqtt(target.host, target.port, clientId('producer', index), (type) => producer.onPacket(type), undefined, target.secure);
    watch(producer, producer.connection, onFailure, `MQTT producer ${index}`);
    return producer;
  },

  async openConsumer(target, scenario, index, events: ConsumerEvents, onFailure: FailureHandler): Promise<ConsumerLink> {
    const qos = qosOf(scenario);
    const owner = { closing: false };
    let acks: Buffer | undefined;
    let ackCount = 0;
    let subscribed: ((granted: number) => void) | undefined;
    let connection: MqttConnection | undefined;
    const onPacket = (type: number, flags: number, chunk: Buffer, start: number, end: number, recvUs: number): void => {
      if (type === PacketType.publish) {
        const packetQos = (flags >> 1) & 0x03;
        let at = start + 2 + chunk.readUInt16BE(start);
        if (packetQos > 0) {
          acks ??= Buffer.allocUnsafe(4 * 1024);
          if ((ackCount + 1) * 4 > acks.length) {
            const grown = Buffer.allocUnsafe(acks.length * 2);
            acks.copy(grown, 0, 0, ackCount * 4);
            acks = grown;
          }
          const o = ackCount * 4;
          acks[o] = PacketType.puback << 4;
          acks[o + 1] = 2;
          acks[o + 2] = chunk[at] as number;
          acks[o + 3] = chunk[at + 1] as number;
          ackCount++;
          at += 2;
        }
        if (end - at < STAMP_BYTES) {
          events.message(Number.NaN, Number.NaN, Number.NaN, 'measure', recvUs);
          return;
        }
        const phase: Phase = chunk[at] === 0x77 ? 'warmup' : 'measure';
        events.message(chunk.readUInt32BE(at + 4), chunk.readUInt32BE(at + 8), chunk.readDoubleBE(at + 12), phase, recvUs);
      } else if (type === PacketType.suback) {
        subscribed?.(chunk[end - 1] as number);
      }
    };
    const onChunkEnd = (): void => {
      if (ackCount > 0 && connection !== undefined) {
        connection.socket.write(Buffer.from((acks as Buffer).subarray(0, ackCount * 4)));
        ackCount = 0;
      }
      events.readEnd();
    };
    connection = await connectMqtt(target.host, target.port, clientId('consumer', index), onPacket, onChunkEnd, target.secure);
    const granted = new Promise<number>((resolve) => (subscribed = resolve));
    connection.socket.write(subscribePacket(1, target.destination, qos));
    const code = await Promise.race([
      granted,
      new Promise<number>((_, reject) => setTimeout(() => reject(new Error('no SUBACK within 30 s')), 30_000).unref()),
    ]);
    if (code === 0x80) throw new Error(`the broker refused the subscription to ${target.destination}`);
    watch(owner, connection, onFailure, `MQTT consumer ${index}`);
    const opened = connection;
    return { close: () => closeConnection(owner, opened) };
  },
};
