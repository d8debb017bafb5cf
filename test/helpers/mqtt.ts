import { connect as tcpConnect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import mqtt, { type IClientOptions, type IClientPublishOptions, type IClientSubscribeOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { Inbox } from './inbox.js';

export interface Received {
  readonly topic: string;
  readonly payload: string;
  readonly packet: IPublishPacket;
}

/** Messages one client received, taken in order with a time limit. */
export class MqttInbox extends Inbox<Received> {
  constructor(client: MqttClient) {
    super('MQTT message', (r) => `${r.topic}: ${r.payload}`);
    client.on('message', (topic, payload, packet) => this.push({ topic, payload: payload.toString('utf8'), packet }));
  }
}

export interface MqttTestClient {
  readonly client: MqttClient;
  readonly inbox: MqttInbox;
  /** The CONNACK the broker sent. */
  readonly connack: mqtt.IConnackPacket;
  /** Resolves when the socket closes. */
  readonly closed: Promise<void>;
  /** DISCONNECT packets the broker sent (MQTT 5). */
  readonly disconnects: mqtt.IDisconnectPacket[];
  subscribe(filter: string | string[] | mqtt.ISubscriptionMap, options?: IClientSubscribeOptions): Promise<mqtt.ISubscriptionGrant[]>;
  publish(topic: string, payload: string | Buffer, options?: IClientPublishOptions): Promise<void>;
  end(): Promise<void>;
}

/** Connects MQTT.js over TCP and waits for CONNACK; no automatic reconnect. */
export async function connectMqtt(port: number, options: IClientOptions = {}): Promise<MqttTestClient> {
  const client = mqtt.connect({
    host: '127.0.0.1',
    port,
    protocol: 'mqtt',
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...options,
  });
  const inbox = new MqttInbox(client);
  const disconnects: mqtt.IDisconnectPacket[] = [];
  client.on('disconnect', (packet) => disconnects.push(packet));
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const connack = await new Promise<mqtt.IConnackPacket>((resolve, reject) => {
    client.once('connect', (packet) => resolve(packet));
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return {
    client,
    inbox,
    connack,
    closed,
    disconnects,
    subscribe: (filter, opts) => (typeof filter === 'object' && !Array.isArray(filter) ? client.subscribeAsync(filter) : client.subscribeAsync(filter, opts ?? { qos: 0 })),
    publish: async (topic, payload, opts) => {
      await client.publishAsync(topic, payload, opts ?? {});
    },
    end: async () => {
      await client.endAsync();
    },
  };
}

/** Drops the socket without DISCONNECT, as a crashed client would. */
export function dropConnection(client: MqttClient): void {
  (client as unknown as { stream: { destroy(): void } }).stream.destroy();
}

/** A raw MQTT connection: packets in with mqtt-packet's parser, bytes out as given. */
/** An MQTT client of raw packets (`rawMqtt`), for the byte order no library client would send. */
export interface RawMqtt {
  readonly socket: Socket;
  readonly packets: mqttPacket.Packet[];
  readonly closed: Promise<void>;
  send(p: mqttPacket.Packet): void;
  next(cmd: string, ms?: number): Promise<mqttPacket.Packet>;
}

export async function rawMqtt(port: number, version: 4 | 5 = 4): Promise<RawMqtt> {
  const socket = tcpConnect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const parser = mqttPacket.parser({ protocolVersion: version });
  const packets: mqttPacket.Packet[] = [];
  let wake: (() => void) | undefined;
  parser.on('packet', (p: mqttPacket.Packet) => {
    packets.push(p);
    wake?.();
  });
  socket.on('data', (chunk) => parser.parse(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    packets,
    closed,
    send: (p) => socket.write(mqttPacket.generate(p, { protocolVersion: version })),
    async next(cmd, ms = 3000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const i = packets.findIndex((p) => p.cmd === cmd);
        if (i >= 0) return packets.splice(i, 1)[0]!;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no ${cmd} within ${ms} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    },
  };
}
