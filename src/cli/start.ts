import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadConfig, type Overrides } from '../config/index.js';
import { startServer, type RunningServer } from './server.js';

export const startHelp = `Usage: ferry start [options]

Starts the broker. Settings come from the defaults, then the configuration file, then environment
variables, then these options (each later one wins).

Options:
  --config FILE        YAML configuration file                        env FERRY_CONFIG
  --data DIR           data folder (default ./data)                   env FERRY_DATA
  --stomp-port PORT    STOMP listener port (default 61613); 0 picks a
                       free port, "off" switches the listener off     env FERRY_STOMP_PORT
  --stomp-host HOST    STOMP listener address (default 0.0.0.0)       env FERRY_STOMP_HOST
  --http-port PORT     management API port (default 8161); 0 or "off" env FERRY_HTTP_PORT
  --http-host HOST     management API address (default 0.0.0.0)       env FERRY_HTTP_HOST
  --amqp-port PORT     AMQP 1.0 listener port (default 5672); 0 picks a
                       free port, "off" switches the listener off     env FERRY_AMQP_PORT
  --amqp-host HOST     AMQP 1.0 listener address (default 0.0.0.0)    env FERRY_AMQP_HOST
  --mqtt-port PORT     MQTT listener port (default 1883); 0 picks a
                       free port, "off" switches the listener off     env FERRY_MQTT_PORT
  --mqtt-host HOST     MQTT listener address (default 0.0.0.0)        env FERRY_MQTT_HOST
  --ws-port PORT       WebSocket port, STOMP and MQTT (default 61614);
                       0 picks a free port, "off" switches it off     env FERRY_WS_PORT
  --ws-host HOST       WebSocket listener address (default 0.0.0.0)   env FERRY_WS_HOST
  --broker-name NAME   broker name, used in message ids               env FERRY_BROKER_NAME
  --log-level LEVEL    trace, debug, info, warn, error, fatal, silent env FERRY_LOG_LEVEL
  -h, --help           show this help

Logs are JSON lines on standard output. When a listener is bound, a line with
"event":"listener.ready" gives its protocol and port. SIGINT or SIGTERM stops the broker cleanly.
`;

type Json = string | number | boolean;

function portSetting(overrides: Map<string, Json>, protocol: string, value: string, source: string): void {
  if (value === 'off') {
    overrides.set(`listeners.${protocol}.enabled`, false);
    return;
  }
  const port = Number(value);
  if (value.trim() === '' || !Number.isInteger(port)) {
    throw new Error(`${source}: the ${protocol} port must be a number or "off", got "${value}"`);
  }
  overrides.set(`listeners.${protocol}.enabled`, true);
  overrides.set(`listeners.${protocol}.port`, port);
}

/** Environment first, options second, so that an option beats the environment. */
export function startOverrides(argv: readonly string[], env: NodeJS.ProcessEnv): { configFile: string | undefined; overrides: Overrides; help: boolean } {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      config: { type: 'string' },
      data: { type: 'string' },
      'stomp-port': { type: 'string' },
      'stomp-host': { type: 'string' },
      'http-port': { type: 'string' },
      'http-host': { type: 'string' },
      'amqp-port': { type: 'string' },
      'amqp-host': { type: 'string' },
      'mqtt-port': { type: 'string' },
      'mqtt-host': { type: 'string' },
      'ws-port': { type: 'string' },
      'ws-host': { type: 'string' },
      'broker-name': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  const overrides = new Map<string, Json>();
  const settings: [string | undefined, string | undefined, string, (value: string, source: string) => void][] = [
    [env['FERRY_DATA'], values.data, 'data', (v) => overrides.set('data', v)],
    [env['FERRY_STOMP_PORT'], values['stomp-port'], 'stomp-port', (v, s) => portSetting(overrides, 'stomp', v, s)],
    [env['FERRY_STOMP_HOST'], values['stomp-host'], 'stomp-host', (v) => overrides.set('listeners.stomp.host', v)],
    [env['FERRY_HTTP_PORT'], values['http-port'], 'http-port', (v, s) => portSetting(overrides, 'http', v, s)],
    [env['FERRY_HTTP_HOST'], values['http-host'], 'http-host', (v) => overrides.set('listeners.http.host', v)],
    [env['FERRY_AMQP_PORT'], values['amqp-port'], 'amqp-port', (v, s) => portSetting(overrides, 'amqp', v, s)],
    [env['FERRY_AMQP_HOST'], values['amqp-host'], 'amqp-host', (v) => overrides.set('listeners.amqp.host', v)],
    [env['FERRY_MQTT_PORT'], values['mqtt-port'], 'mqtt-port', (v, s) => portSetting(overrides, 'mqtt', v, s)],
    [env['FERRY_MQTT_HOST'], values['mqtt-host'], 'mqtt-host', (v) => overrides.set('listeners.mqtt.host', v)],
    [env['FERRY_WS_PORT'], values['ws-port'], 'ws-port', (v, s) => portSetting(overrides, 'websocket', v, s)],
    [env['FERRY_WS_HOST'], values['ws-host'], 'ws-host', (v) => overrides.set('listeners.websocket.host', v)],
    [env['FERRY_BROKER_NAME'], values['broker-name'], 'broker-name', (v) => overrides.set('broker.name', v)],
    [env['FERRY_LOG_LEVEL'], values['log-level'], 'log-level', (v) => overrides.set('log.level', v)],
  ];
  for (const [fromEnv, fromArgs, name, apply] of settings) {
    if (fromEnv !== undefined && fromEnv !== '') apply(fromEnv, `FERRY_${name.toUpperCase().replace('-', '_')}`);
    if (fromArgs !== undefined) apply(fromArgs, `--${name}`);
  }
  return { configFile: values.config ?? (env['FERRY_CONFIG'] || undefined), overrides, help: values.help === true };
}

export async function start(argv: readonly string[]): Promise<void> {
  const { configFile, overrides, help } = startOverrides(argv, process.env);
  if (help) {
    process.stdout.write(startHelp);
    return;
  }
  const config = loadConfig(configFile, overrides);
  const logger = pino({ level: config.log.level, base: { broker: config.broker.name } });
  // handlers go in before anything is announced, so a signal sent on seeing the first log line finds them
  let server: RunningServer | undefined;
  let stopRequested: string | undefined;
  let signals = 0;
  const stop = (signal: string): void => {
    logger.info({ event: 'broker.stopping', signal }, 'stopping');
    server!.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ event: 'broker.stop-failed', err }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: string): void => {
    if (++signals > 1) {
      logger.warn({ event: 'broker.forced-exit', signal }, 'second signal: exiting now');
      process.exit(1);
    }
    if (server === undefined) stopRequested = signal;
    else stop(signal);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  server = await startServer(config, logger);
  // a broker with every listener off still runs until told to stop
  const keepAlive = setInterval(() => {}, 1 << 30);
  process.once('exit', () => clearInterval(keepAlive));
  logger.info({ event: 'broker.started', data: config.data, store: config.store.type, ports: server.ports }, 'Ferry started');
  if (stopRequested !== undefined) stop(stopRequested);
}
