import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { loadConfig, type ConfigValue } from '../../src/config/index.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/cli/server.js';
import { protocolModules, type ProtocolName } from '../../src/protocols/registry.js';

export interface TestBroker {
  readonly server: RunningServer;
  /** Every registered protocol's bound port (0 when its listener is off). */
  readonly ports: Readonly<Record<ProtocolName, number>>;
  readonly stompPort: number;
  readonly amqpPort: number;
  readonly mqttPort: number;
  /** The WebSocket listener's port (STOMP and MQTT by subprotocol); 0 when it is off. */
  readonly wsPort: number;
  readonly dataDir: string;
  stop(): Promise<void>;
}

/**
 * A real broker in this process: every protocol on 127.0.0.1 port 0, a temporary data folder, logs off.
 * `settings` are dotted configuration keys (`stomp.connectTimeout`) with their values, over
 * `configFile` when one is given; `logTo` takes the log lines (from debug up) for a test that looks at them.
 */
export interface TestServerOptions extends ServerOptions {
  /** Collect the broker's log lines (parsed) here, at `log.level` or info, instead of dropping them. */
  readonly logLines?: Record<string, unknown>[];
}

export async function startBroker(settings: Record<string, ConfigValue> = {}, testOptions: TestServerOptions = {}, configFile?: string, logTo?: DestinationStream): Promise<TestBroker> {
  const { logLines, ...options } = testOptions;
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-test-'));
  const overrides = new Map<string, ConfigValue>([
    ['data', dataDir],
    ['log.level', process.env['FERRY_TEST_LOG'] ?? (logLines === undefined ? 'silent' : 'info')],
    ...[...protocolModules.map((m) => m.name), 'http'].flatMap((name): [string, ConfigValue][] => [
      [`listeners.${name}.host`, '127.0.0.1'],
      [`listeners.${name}.port`, 0],
    ]),
    ['listeners.websocket.host', '127.0.0.1'],
    ['listeners.websocket.port', 0],
    ...Object.entries(settings),
  ]);
  const config = loadConfig(configFile, overrides);
  const { pino } = await import('pino');
  const logger =
    logTo !== undefined
      ? pino({ level: 'debug' }, logTo)
      : logLines === undefined
      ? pino({ level: config.log.level })
      : pino({ level: config.log.level }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
  const server = await startServer(config, logger, options);
  const ports = Object.fromEntries(protocolModules.map((m) => [m.name, server.ports[m.name] ?? 0])) as Record<ProtocolName, number>;
  const stompPort = ports.stomp;
  if (stompPort === 0) throw new Error('the STOMP listener did not start');
  const amqpPort = ports.amqp;
  const mqttPort = ports.mqtt;
  const wsPort = server.ports['websocket'] ?? 0;
  return {
    server,
    ports,
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
