import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import type { BenchConsumer, BenchProducer, BenchProtocol, BenchTarget } from './links.js';

/**
 * MQTT 3.1.1 over mqtt-packet, the codec the broker's own MQTT listener already depends on, so the
 * tool adds no client library: persistent means QoS 1 (a send is confirmed by its PUBACK), else QoS 0.
 * MQTT has topics only, so the destination is a topic, its dots written as MQTT's slashes.
 */

const topicOf = (target: BenchTarget): string => target.name.replaceAll('.', '/');

class MqttLink {
  private readonly parser = mqttPacket.parser({ protocolVersion: 4 });
  private readonly acks = new Map<number, () => void>();
  private nextId = 0;
  private closing = false;
  onPublish: ((payload: Buffer, messageId: number | undefined) => void) | undefined;
  private connack: ((code: number) => void) | undefined;
  private suback: (() => void) | undefined;

  private constructor(
    readonly socket: Socket,
    private readonly onFailure: (err: Error) => void,
  ) {
    this.parser.on('packet', (packet: Packet) => this.onPacket(packet));
    this.parser.on('error', (err: Error) => this.fail(new Error(`MQTT: cannot parse the broker's packets: ${err.message}`)));
    socket.on('data', (chunk: Buffer) => this.parser.parse(chunk));
    socket.on('error', (err) => this.fail(new Error(`MQTT: ${err.message}`)));
    socket.on('close', () => this.fail(new Error('MQTT: the broker closed the connection')));
  }

  static async open(target: BenchTarget, onFailure: (err: Error) => void): Promise<MqttLink> {
    const socket = target.tls ? connectTls({ host: target.host, port: target.port, ...(target.ca === undefined ? {} : { ca: target.ca }) }) : connectTcp({ host: target.host, port: target.port });
    await new Promise<void>((resolve, reject) => {
      socket.once(target.tls ? 'secureConnect' : 'connect', resolve);
      socket.once('error', (err: NodeJS.ErrnoException) => reject(Object.assign(new Error(`MQTT: cannot connect to ${target.host}:${target.port}: ${err.message}`), { code: err.code })));
    });
    const link = new MqttLink(socket, onFailure);
    const code = await new Promise<number>((resolve) => {
      link.connack = resolve;
      link.write({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        keepalive: 0,
        clientId: `ferry-bench-${Math.random().toString(36).slice(2, 10)}`,
        ...(target.user === undefined ? {} : { username: target.user, password: Buffer.from(target.password ?? '', 'utf8') }),
      });
    });
    if (code !== 0) {
      socket.destroy();
      throw new Error(`MQTT: the broker refused the connection (CONNACK return code ${code})`);
    }
    return link;
  }

  write(packet: Parameters<typeof mqttPacket.generate>[0]): boolean {
    return this.socket.write(mqttPacket.generate(packet));
  }

  /** A packet id not in use: QoS 1 windows stay far below 65535. */
  packetId(): number {
    this.nextId = (this.nextId % 65535) + 1;
    return this.nextId;
  }

  awaitAck(id: number): Promise<void> {
    return new Promise((resolve) => this.acks.set(id, resolve));
  }

  subscribed(): Promise<void> {
    return new Promise((resolve) => (this.suback = resolve));
  }

  drained(): Promise<void> {
    return this.socket.writableNeedDrain ? new Promise((resolve) => this.socket.once('drain', () => resolve())) : Promise.resolve();
  }

  close(): Promise<void> {
    this.closing = true;
    this.write({ cmd: 'disconnect' });
    return new Promise((resolve) => this.socket.end(resolve));
  }

  private onPacket(packet: Packet): void {
    switch (packet.cmd) {
      case 'connack':
        this.connack?.(packet.returnCode ?? 0);
        return;
      case 'puback': {
        const id = packet.messageId ?? 0;
        this.acks.get(id)?.();
        this.acks.delete(id);
        return;
      }
      case 'suback':
        if (packet.granted.some((g) => (typeof g === 'number' ? g : (g as { qos: number }).qos) >= 0x80)) this.fail(new Error('MQTT: the broker refused the subscription'));
        else this.suback?.();
        return;
      case 'publish':
        this.onPublish?.(Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload), packet.messageId);
        return;
      default:
        return;
    }
  }

  private fail(err: Error): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.destroy();
    this.onFailure(err);
  }
}

function mqttTarget(target: BenchTarget): string {
  if (target.kind !== 'topic') throw new Error('MQTT has topics only: give --destination topic://NAME');
  return topicOf(target);
}

export const mqttBench: BenchProtocol = {
  defaultPort: 1883,

  async producer(target, onFailure): Promise<BenchProducer> {
    const topic = mqttTarget(target);
    const link = await MqttLink.open(target, onFailure);
    return {
      send(payload) {
        if (!target.persistent) return link.write({ cmd: 'publish', topic, payload, qos: 0, dup: false, retain: false }) ? Promise.resolve() : link.drained();
        const messageId = link.packetId();
        const acked = link.awaitAck(messageId);
        link.write({ cmd: 'publish', topic, payload, qos: 1, messageId, dup: false, retain: false });
        return acked;
      },
      close: () => link.close(),
    };
  },

  async consumer(target, onMessage, onFailure): Promise<BenchConsumer> {
    const topic = mqttTarget(target);
    const link = await MqttLink.open(target, onFailure);
    link.onPublish = (payload, messageId) => {
      if (messageId !== undefined) link.write({ cmd: 'puback', messageId });
      onMessage(payload);
    };
    const subscribed = link.subscribed();
    link.write({ cmd: 'subscribe', messageId: link.packetId(), subscriptions: [{ topic, qos: target.persistent ? 1 : 0 }] });
    await subscribed;
    return { close: () => link.close() };
  },
};
