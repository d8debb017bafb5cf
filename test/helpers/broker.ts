import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type ConfigValue } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/cli/server.js';
import type { Store } from '../../src/store/index.js';

export interface TestBroker {
  readonly server: RunningServer;
  readonly stompPort: number;
  readonly amqpPort: number;
  readonly mqttPort: number;
  /** The WebSocket listener's port (STOMP and MQTT by subprotocol); 0 when it is off. */
  readonly wsPort: number;
  readonly dataDir: string;
  stop(): Promise<void>;
}

/**
 * A real broker in this process: STOMP and AMQP on 127.0.0.1 port 0, a temporary data folder, logs off.
 * `settings` are dotted configuration keys (`stomp.connectTimeout`) with their values.
 */
export async function startBroker(settings: Record<string, ConfigValue> = {}, options: { store?: Store } = {}): Promise<TestBroker> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-test-'));
  const overrides = new Map<string, ConfigValue>([
    ['data', dataDir],
    ['log.level', process.env['FERRY_TEST_LOG'] ?? 'silent'],
    ['listeners.stomp.host', '127.0.0.1'],
    ['listeners.stomp.port', 0],
    ['listeners.http.host', '127.0.0.1'],
    ['listeners.http.port', 0],
    ['listeners.amqp.host', '127.0.0.1'],
    ['listeners.amqp.port', 0],
    ['listeners.mqtt.host', '127.0.0.1'],
    ['listeners.mqtt.port', 0],
    ['listeners.websocket.host', '127.0.0.1'],
    ['listeners.websocket.port', 0],
    ...Object.entries(settings),
  ]);
  const config = loadConfig(undefined, overrides);
  const { pino } = await import('pino');
  const logger = pino({ level: config.log.level });
  const server = await startServer(config, logger, options.store === undefined ? {} : { store: options.store });
  const stompPort = server.ports['stomp'];
  if (stompPort === undefined) throw new Error('the STOMP listener did not start');
  const amqpPort = server.ports['amqp'] ?? 0;
  const mqttPort = server.ports['mqtt'] ?? 0;
  const wsPort = server.ports['websocket'] ?? 0;
  return {
    server,
    stompPort,
    amqpPort,
    mqttPort,
    wsPort,
    dataDir,
    async stop() {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
