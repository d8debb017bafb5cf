import type { BrokerAccess, Logger } from '../../core/index.js';
import type { ProtocolAdapter, TransportConnection } from '../../transport/index.js';
import { AmqpConnection } from './connection.js';
import type { AmqpOptions } from './options.js';

const AMQP = [0x41, 0x4d, 0x51, 0x50];

/**
 * True when the first bytes are an AMQP 1.0 protocol header, plain (id 0) or SASL (id 3), version
 * 1.0.0. AMQP 0-9-1 (`AMQP 0 0 9 1`) shares the port and the first four bytes, so all eight decide.
 */
function detect(firstBytes: Buffer): boolean | undefined {
  const n = Math.min(firstBytes.length, 8);
  for (let i = 0; i < Math.min(n, 4); i++) if (firstBytes[i] !== AMQP[i]) return false;
  if (n < 8) return undefined;
  const id = firstBytes[4];
  return (id === 0 || id === 3) && firstBytes[5] === 1 && firstBytes[6] === 0 && firstBytes[7] === 0;
}

export function createAmqpAdapter(options: AmqpOptions, logger: Logger): ProtocolAdapter {
  const open = new Set<AmqpConnection>();
  return {
    name: 'amqp',
    detect,
    webSocketProtocols: amqpWebSocketProtocols,
    attach(connection: TransportConnection, broker: BrokerAccess): void {
      open.add(new AmqpConnection(connection, broker, options, logger, (c) => open.delete(c)));
    },
    stopping(): void {
      // a close with amqp:connection:forced tells clients the broker is going, before their sockets close
      for (const c of [...open]) c.shutdown();
    },
    close(): void {},
  };
}

/** WebSocket subprotocols that carry AMQP. */
export const amqpWebSocketProtocols: readonly string[] = ['amqp'];
