import type { BrokerAccess, Logger } from '../../core/index.js';
import type { ProtocolAdapter, TransportConnection } from '../../transport/index.js';
import { Amqp091Connection } from './connection.js';
import type { Amqp091Options } from './options.js';

const AMQP = [0x41, 0x4d, 0x51, 0x50];

/**
 * True when the first bytes begin `AMQP` and are not AMQP 1.0's header (protocol id 0 or 3,
 * version 1.0.0), which shares the port: `AMQP 0 0 9 1` is ours, and any other version gets the
 * 0-9-1 header back and a close, as RabbitMQ answers one. Eight bytes decide.
 */
function detect(firstBytes: Buffer): boolean | undefined {
  const n = Math.min(firstBytes.length, 8);
  for (let i = 0; i < Math.min(n, 4); i++) if (firstBytes[i] !== AMQP[i]) return false;
  if (n < 8) return undefined;
  const id = firstBytes[4];
  const amqp10 = (id === 0 || id === 3) && firstBytes[5] === 1 && firstBytes[6] === 0 && firstBytes[7] === 0;
  return !amqp10;
}

export function createAmqp091Adapter(options: Amqp091Options, logger: Logger): ProtocolAdapter {
  const open = new Set<Amqp091Connection>();
  return {
    name: 'amqp091',
    detect,
    webSocketProtocols: [],
    attach(connection: TransportConnection, broker: BrokerAccess): void {
      open.add(new Amqp091Connection(connection, broker, options, logger, (c) => open.delete(c)));
    },
    stopping(): void {
      // 320 CONNECTION_FORCED tells clients the broker is going, before their sockets close
      for (const c of [...open]) c.shutdown();
    },
    close(): void {},
  };
}
