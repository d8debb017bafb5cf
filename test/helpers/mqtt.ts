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
