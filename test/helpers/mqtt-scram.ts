import mqttPacket, { type IAuthPacket } from 'mqtt-packet';
import mqtt, { type IConnackPacket, type IDisconnectPacket, type MqttClient } from 'mqtt';
import { MqttInbox } from './mqtt.js';
import { ScramClient } from './scram-client.js';

/**
 * MQTT.js logging in with SCRAM-SHA-256 over MQTT 5 AUTH: the client-first message rides in
 * CONNECT, MQTT.js's `handleAuth` answers the broker's AUTH challenges with the test's SCRAM client,
 * CONNACK carries the server signature. MQTT.js has no call to re-authenticate, so
 * `reauthenticate` writes the AUTH 0x19 to its stream; its `handleAuth` then carries the exchange on.
 */

const METHOD = 'SCRAM-SHA-256';

export interface ScramMqtt {
  readonly client: MqttClient;
  readonly connack: IConnackPacket;
  readonly scram: ScramClient;
  readonly inbox: MqttInbox;
  readonly disconnects: IDisconnectPacket[];
  readonly closed: Promise<void>;
  /** Sends AUTH 0x19 with a new exchange; resolves with the broker's final AUTH 0x00. */
  reauthenticate(user: string, password: string, options?: { method?: string; duringChallenge?: () => Promise<void> }): Promise<{ final: IAuthPacket; scram: ScramClient }>;
}

export async function connectScram(port: number, user: string, password: string, method = METHOD): Promise<ScramMqtt> {
  let scram = new ScramClient(user, password);
  const client = mqtt.connect({
    host: '127.0.0.1',
    port,
    protocolVersion: 5,
    reconnectPeriod: 0,
    manualConnect: true,
    clientId: `scram-${Math.random().toString(36).slice(2)}`,
    properties: { authenticationMethod: method, authenticationData: scram.clientFirst },
  });
  let duringChallenge: (() => Promise<void>) | undefined;
  let onFinal: ((packet: IAuthPacket) => void) | undefined;
  client.handleAuth = (packet, callback) => {
    if (packet.reasonCode === 0x18) {
      const answer = scram.final(packet.properties!.authenticationData!);
      const reply = (): void => callback(undefined, { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: answer } });
      if (duringChallenge === undefined) reply();
      else void duringChallenge().then(reply);
      return;
    }
    onFinal?.(packet);
    callback();
  };
  const disconnects: IDisconnectPacket[] = [];
  client.on('disconnect', (packet) => disconnects.push(packet));
  client.on('error', () => {});
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const inbox = new MqttInbox(client);
  client.connect();
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
    void closed.then(() => reject(new Error('closed before CONNACK')));
  });
  return {
    client,
    connack,
    scram,
    inbox,
    disconnects,
    closed,
    reauthenticate(nextUser, nextPassword, options = {}) {
      scram = new ScramClient(nextUser, nextPassword);
      duringChallenge = options.duringChallenge;
      const final = new Promise<IAuthPacket>((resolve) => (onFinal = resolve));
      client.stream.write(mqttPacket.generate({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: options.method ?? method, authenticationData: scram.clientFirst } }, { protocolVersion: 5 }));
      return final.then((packet) => ({ final: packet, scram }));
    },
  };
}

