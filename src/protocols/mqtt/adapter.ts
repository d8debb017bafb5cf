import mqttPacket from 'mqtt-packet';
import { FerryError } from '../../errors.js';
import type { BrokerAccess, Logger } from '../../core/index.js';
import type { ProtocolAdapter, TransportConnection } from '../../transport/index.js';
import type { MqttOptions } from './options.js';
import { MqttSession } from './session.js';
import { SessionStates } from './session-state.js';
import { SysPublisher } from './sys.js';
import { KeepAliveWheel } from './keep-alive.js';
import { expireKeptSessions, publishWillAtStop } from './will-and-expiry.js';

/**
 * True when the first bytes are an MQTT CONNECT: packet type 1 with flags 0, a remaining length,
 * then the protocol name "MQTT" (3.1.1, 5.0) or "MQIsdp" (3.1).
 */
function detect(firstBytes: Buffer): boolean | undefined {
  if (firstBytes.length === 0) return undefined;
  if (firstBytes[0] !== 0x10) return false;
  let i = 1;
  while (i < firstBytes.length && i < 5 && (firstBytes[i]! & 0x80) !== 0) i++;
  if (i >= firstBytes.length) return undefined;
  const rest = firstBytes.subarray(i + 1);
  for (const name of [Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54]), Buffer.from([0, 6, 0x4d, 0x51, 0x49, 0x73, 0x64, 0x70])]) {
    const n = Math.min(rest.length, name.length);
    if (rest.subarray(0, n).equals(name.subarray(0, n))) return rest.length >= name.length ? true : undefined;
  }
  return false;
}

export function createMqttAdapter(options: MqttOptions, logger: Logger, keepAlive: KeepAliveWheel = new KeepAliveWheel()): ProtocolAdapter {
  // mqtt-packet's generate fills, on its first call, a cache of 65,536 two-byte Buffers for packet
  // ids: 6 MiB of heap the broker never needs (it writes the message path itself, framing.ts), and
  // which a cold broker charged to its first connections (3 KiB each of 2,000, measured)
  mqttPacket.writeToStream.cacheNumbers = false;
  const states = new SessionStates();
  const open = new Set<MqttSession>();
  const counters = { received: 0, sent: 0 };
  let sys: SysPublisher | undefined;
  return {
    name: 'mqtt',
    detect,
    webSocketProtocols: mqttWebSocketProtocols,
    webSocketPingInterval: options.websocketPingInterval,
    attach(connection: TransportConnection, broker: BrokerAccess): void {
      if (sys === undefined && options.sysInterval > 0) {
        sys = new SysPublisher(broker, states, counters, options.sysInterval);
        sys.start();
      }
      open.add(new MqttSession(connection, broker, options, states, logger, counters, keepAlive, (s) => open.delete(s)));
    },
    started(broker: BrokerAccess): void {
      expireKeptSessions({ broker, states, logger });
    },
    publishOnStop(): Promise<void> {
      // [MQTT-3.1.2-8]: the stop closes these connections without their DISCONNECT, so their wills go out, as Mosquitto sends them
      for (const s of open) publishWillAtStop(s);
      return states.publishPendingWills();
    },
    stopping(): void {
      // MQTT 5: DISCONNECT 0x8B (Server shutting down) before the socket closes; 3.1.1 has no server DISCONNECT
      for (const s of [...open]) s.fail(new FerryError('FERRY_BROKER_STOPPING', 'broker shutdown'));
    },
    close(): void {
      sys?.stop();
      states.close();
      keepAlive.close();
    },
  };
}

/** WebSocket subprotocols that carry MQTT. MQTT.js asks for mqttv3.1 when it speaks MQTT 3.1. */
export const mqttWebSocketProtocols: readonly string[] = ['mqtt', 'mqttv3.1'];
