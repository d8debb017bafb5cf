import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import type { AmqpError, ConnectionOptions } from 'rhea';
import { WebSocket } from 'ws';
import { connectAmqp, rhea } from '../helpers/amqp.js';
import { startBroker } from '../helpers/broker.js';
import { uniqueName, within } from '../helpers/raw-stomp.js';
import { connectStompWs } from '../helpers/ws.js';

/** The close code each WebSocket client got from the broker, by the name of its protocol. */
function closeCode(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => socket.once('close', (code: number) => resolve(code)));
}

test('a broker that stops closes its WebSocket clients with 1001 (going away), after MQTT 5\'s DISCONNECT 0x8B and AMQP\'s close; a connection closed on its own gets 1000', async () => {
  const broker = await startBroker();
  let stopped = false;
  try {
    const stomp = await connectStompWs(broker.wsPort);
    const stompClosed = closeCode(stomp.socket());

    let mqttSocket: WebSocket | undefined;
    const client = await mqtt.connectAsync(`ws://127.0.0.1:${broker.wsPort}/mqtt`, {
      clientId: uniqueName('going-away'),
      protocolVersion: 5,
      reconnectPeriod: 0,
      createWebsocket: (url: string, protocols: string[]) => (mqttSocket = new WebSocket(url, protocols)),
    });
    const mqttClosed = closeCode(mqttSocket!);
    const disconnect = new Promise<number | undefined>((resolve) => client.once('disconnect', (packet) => resolve(packet.reasonCode)));

    const amqpSockets: WebSocket[] = [];
    // rhea's WebSocket binding constructs the socket it is given, so this one is kept to read its close code
    class RecordedWebSocket extends WebSocket {
      constructor(url: string, protocols: string[]) {
        super(url, protocols);
        amqpSockets.push(this);
      }
    }
    const amqp = await connectAmqp(0, { connection_details: rhea.websocket_connect(RecordedWebSocket as unknown as typeof WebSocket)(`ws://127.0.0.1:${broker.wsPort}`, ['amqp'], {}) } as unknown as Partial<ConnectionOptions>);
    const amqpClosed = closeCode(amqpSockets[0]!);

    // a connection the broker closes while it keeps running (a bad frame) is a normal closure
    const single = await connectStompWs(broker.wsPort);
    const singleClosed = closeCode(single.socket());
    single.socket().send('NONSENSE\n\n\0');
    assert.equal(await within(3000, 'the single close', singleClosed), 1000);

    await broker.stop();
    stopped = true;
    assert.equal(await within(3000, 'MQTT 5\'s DISCONNECT', disconnect), 0x8b);
    const amqpError = (await within(3000, 'AMQP\'s close', amqp.closed)) as AmqpError | undefined;
    assert.equal(amqpError?.condition, 'amqp:connection:forced');
    assert.deepEqual(
      { stomp: await stompClosed, mqtt: await mqttClosed, amqp: await amqpClosed },
      { stomp: 1001, mqtt: 1001, amqp: 1001 },
    );
    await client.endAsync(true);
  } finally {
    if (!stopped) await broker.stop();
  }
});
