import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { loadConfig, type FerryConfig, type OverrideOrigins, type Overrides } from '../config/index.js';
import { FerryError, isFerryError } from '../errors.js';
import { protocolModules } from '../protocols/registry.js';
import { takeOverSignals } from './early-signals.js';
import { LogOutput } from './log-output.js';
import { startServer, type RunningServer } from './server.js';

/** One option's help line; a text longer than its column still leaves a space before `env`. */
const helpLine = (option: string, text: string, variable: string): string => `  ${option.padEnd(26)}${`${text} `.padEnd(48)}env ${variable}\n`;

/** Two help lines per listener: its port and its address. */
function listenerHelp(flag: string, title: string, defaultPort: number | 'off', defaultHost = '0.0.0.0'): string {
  const env = flag.toUpperCase().replaceAll('-', '_');
  const port = defaultPort === 'off' ? `${title} port of its own (off by default)` : `${title} port (default ${defaultPort})`;
  return helpLine(`--${flag}-port PORT`, port, `FERRY_${env}_PORT`) + helpLine(`--${flag}-host HOST`, `${title} address (default ${defaultHost})`, `FERRY_${env}_HOST`);
}

/**
 * Listener options: every protocol's, WebSocket's, HTTP's, then their TLS listeners (off by default).
 * A protocol served on another's port (AMQP 0-9-1 on AMQP 1.0's) has no listener of its own unless given a port.
 */
const listenerHelps = [
  ...protocolModules.map((m) => listenerHelp(m.name, m.title, 'guestOf' in m ? 'off' : m.defaultPort)),
  listenerHelp('ws', 'WebSocket', 61614),
  listenerHelp('http', 'management API', 8161, '127.0.0.1'),
  ...protocolModules.map((m) => listenerHelp(`${m.name}-tls`, `${m.title} over TLS`, m.defaultTlsPort)),
  listenerHelp('ws-tls', 'wss (WebSocket over TLS)', 61615),
  listenerHelp('http-tls', 'management API (https)', 8162, '127.0.0.1'),
].join('');

export const startHelp = `Usage: ferry start [options]

Starts the broker. Settings come from the defaults, then the configuration file, then environment
variables, then these options (each later one wins).

Options:
${helpLine('--config FILE', 'YAML configuration file', 'FERRY_CONFIG')}\
${helpLine('--data DIR', 'data folder (default ./data)', 'FERRY_DATA')}\
${listenerHelps}\
${helpLine('--broker-name NAME', 'broker name, used in message ids', 'FERRY_BROKER_NAME')}\
${helpLine('--ha', 'share the data folder with a backup (ha.role auto)', 'FERRY_HA=auto')}\
${helpLine('--log-level LEVEL', 'trace, debug, info, warn, error, fatal, silent', 'FERRY_LOG_LEVEL')}\
${helpLine('--log-file FILE', 'append the log to FILE, not standard output', 'FERRY_LOG_FILE')}\
  -h, --help                show this help

A PORT is a number, 0 (a free port, which the log names) or "off" (no listener). A TLS
listener needs tls.cert and tls.key in the configuration file; its port switches it on. AMQP 0-9-1
is served on the AMQP 1.0 port; --amqp091-port gives it a listener of its own.
Logs are JSON lines on standard output, or appended to --log-file (its folder is created). When a
listener is bound, a line with "event":"listener.ready" gives its protocol and port. SIGINT or
SIGTERM stops the broker cleanly, and so does SIGHUP, unless the log goes to a file: then SIGHUP
reopens the file, for logrotate.
`;

/** Listener option prefixes and the configuration key each sets: every protocol's, WebSocket's, HTTP's. */
const listenerFlags: readonly (readonly [flag: string, key: string])[] = [
  ...protocolModules.map((m) => [m.name, m.name] as const),
  ['ws', 'websocket'],
  ['http', 'http'],
  ...protocolModules.map((m) => [`${m.name}-tls`, `${m.name}Tls`] as const),
  ['ws-tls', 'websocketTls'],
  ['http-tls', 'httpTls'],
];

type Json = string | number | boolean;

type Setter = (key: string, value: Json, source: string) => void;

function portSetting(set: Setter, protocol: string, value: string, source: string): void {
  if (value === 'off') {
    set(`listeners.${protocol}.enabled`, false, source);
    return;
  }
  const port = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || port > 65535) {
    throw new FerryError('FERRY_CONFIG_INVALID', `${source} (listeners.${protocol}.port): the ${protocol} port must be a number from 0 to 65535 or "off", got "${value}"`);
  }
  set(`listeners.${protocol}.enabled`, true, source);
  set(`listeners.${protocol}.port`, port, source);
}

type Setting = [fromEnv: string | undefined, fromArgs: string | undefined, name: string, apply: (value: string, source: string) => void];

function text(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

const startOptions = {
  config: { type: 'string' },
  data: { type: 'string' },
  ...(Object.fromEntries(listenerFlags.flatMap(([flag]) => [[`${flag}-port`, { type: 'string' }] as const, [`${flag}-host`, { type: 'string' }] as const])) as Record<string, { type: 'string' }>),
  'broker-name': { type: 'string' },
  ha: { type: 'boolean' },
  'log-level': { type: 'string' },
  'log-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The command line, with its mistakes (an unknown option, a missing value) as configuration errors. */
function parseStartArgs(argv: readonly string[]): ReturnType<typeof parseArgs<{ args: string[]; options: typeof startOptions; strict: true }>> {
  try {
    return parseArgs({ args: [...argv], options: startOptions, strict: true });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) throw err;
    // Node's text names the option; its first sentence is the whole of the mistake
    const first = (err as Error).message.split('\n')[0]!.replace(/\. To specify .*$/, '');
    throw new FerryError('FERRY_CONFIG_INVALID', `${first} (see ferry start --help)`, { cause: err });
  }
}

/**
 * A listener that could not listen, said with its key and option rather than as a bare system
 * error: a port another program holds or that needs privileges, a host that is no address of this
 * machine or that does not resolve.
 */
function listenerRefused(err: unknown, config: FerryConfig, origins: OverrideOrigins): Error | undefined {
  const e = err as { code?: unknown; port?: unknown; address?: unknown; hostname?: unknown };
  const byPort = e.code === 'EADDRINUSE' || e.code === 'EACCES';
  const byHost = e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN';
  const host = typeof e.hostname === 'string' ? e.hostname : typeof e.address === 'string' ? e.address : undefined;
  const entry = Object.entries(config.listeners).find(([, listener]) =>
    listener.enabled && (byPort ? typeof e.port === 'number' && listener.port === e.port : byHost && listener.host === host),
  );
  if (entry === undefined) return undefined;
  const [name, listener] = entry;
  const setting = byPort ? 'port' : 'host';
  const key = `listeners.${name}.${setting}`;
  const option = origins.get(key) ?? `--${listenerFlags.find(([, flag]) => flag === name)?.[0] ?? name}-${setting}`;
  const what =
    e.code === 'EADDRINUSE' ? `port ${listener.port} on ${String(e.address ?? listener.host)} is in use by another program; choose another port, or "off"`
    : e.code === 'EACCES' ? `port ${listener.port} needs privileges this process lacks; choose a port above 1023`
    : e.code === 'EADDRNOTAVAIL' ? `${listener.host} is not an address of this machine`
    : `${listener.host} does not resolve to an address (${String(e.code)})`;
  return new Error(`${key} (${option}): ${what}`, { cause: err });
}

/** Environment first, options second, so that an option beats the environment. */
export function startOverrides(argv: readonly string[], env: NodeJS.ProcessEnv): { configFile: string | undefined; overrides: Overrides; origins: OverrideOrigins; help: boolean } {
  const { values } = parseStartArgs(argv);
  const overrides = new Map<string, Json>();
  const origins = new Map<string, string>();
  const set: Setter = (key, value, source) => {
    overrides.set(key, value);
    origins.set(key, source);
  };
  const settings: Setting[] = [
    [env['FERRY_DATA'], text(values.data), 'data', (v, s) => set('data', v, s)],
    ...listenerFlags.flatMap(([flag, key]): Setting[] => {
      const env_ = flag.toUpperCase().replaceAll('-', '_');
      const option = values as Record<string, string | boolean | undefined>;
      return [
        [env[`FERRY_${env_}_PORT`], text(option[`${flag}-port`]), `${flag}-port`, (v, s) => portSetting(set, key, v, s)],
        [env[`FERRY_${env_}_HOST`], text(option[`${flag}-host`]), `${flag}-host`, (v, s) => set(`listeners.${key}.host`, v, s)],
      ];
    }),
    [env['FERRY_BROKER_NAME'], text(values['broker-name']), 'broker-name', (v, s) => set('broker.name', v, s)],
    [env['FERRY_HA'], values.ha === true ? 'auto' : undefined, 'ha', (v, s) => set('ha.role', v, s)],
    [env['FERRY_LOG_LEVEL'], text(values['log-level']), 'log-level', (v, s) => set('log.level', v, s)],
    [env['FERRY_LOG_FILE'], text(values['log-file']), 'log-file', (v, s) => set('log.file', v, s)],
  ];
  for (const [fromEnv, fromArgs, name, apply] of settings) {
    if (fromEnv !== undefined && fromEnv !== '') apply(fromEnv, `FERRY_${name.toUpperCase().replaceAll('-', '_')}`);
    if (fromArgs !== undefined) apply(fromArgs, `--${name}`);
  }
  return { configFile: text(values.config) ?? (env['FERRY_CONFIG'] || undefined), overrides, origins, help: values.help === true };
}

/** The log's output: standard output, or the file `log.file` names, opened here so that a path it cannot write stops the start. */
async function openLog(config: FerryConfig, configFile: string | undefined, origins: OverrideOrigins): Promise<LogOutput> {
  if (config.log.file === undefined) return LogOutput.standardOutput();
  // relative to the working directory, as the data folder is
  const file = resolve(config.log.file);
  try {
    return await LogOutput.appending(file);
  } catch (err) {
    const origin = origins.get('log.file');
    const where = origin !== undefined ? `${origin} (log.file)` : `${configFile ?? 'configuration'}: log.file`;
    throw new FerryError('FERRY_CONFIG_INVALID', `${where}: cannot write the log to ${file}: ${(err as Error).message}`, { cause: err });
  }
}

export async function start(argv: readonly string[]): Promise<void> {
  const { configFile, overrides, origins, help } = startOverrides(argv, process.env);
  if (help) {
    process.stdout.write(startHelp);
    return;
  }
  const config = loadConfig(configFile, overrides, origins);
  const output = await openLog(config, configFile, origins);
  const logger = pino({ level: config.log.level, base: { broker: config.broker.name } }, output.stream);
  // the log's last lines (the stop, the reason for a fatal exit) are written before the process ends
  const exit = (code: number): void => void output.written().then(() => process.exit(code));
  // handlers go in before anything is announced, so a signal sent on seeing the first log line finds them
  let server: RunningServer | undefined;
  let stopRequested: string | undefined;
  let signals = 0;
  // a backup waiting for the lease has nothing to stop: a signal ends the wait
  const waiting = new AbortController();
  const stop = (signal: string): void => {
    logger.info({ event: 'broker.stopping', signal }, 'stopping');
    server!.stop().then(
      () => exit(0),
      (err: unknown) => {
        logger.error({ event: 'broker.stop-failed', err }, 'stopping failed');
        exit(1);
      },
    );
  };
  const onSignal = (signal: string): void => {
    if (++signals > 1) {
      logger.warn({ event: 'broker.forced-exit', signal }, 'second signal: exiting now');
      // pino's exit hook still writes out what is waiting, synchronously
      process.exit(1);
    }
    if (server === undefined) {
      // the start goes on to its next safe point (the store opened, or not yet) and stops there, before any listener opens
      logger.info({ event: 'broker.stop-requested', signal }, `${signal} during start: stopping at the next safe point`);
      stopRequested = signal;
      waiting.abort();
    } else stop(signal);
  };
  // SIGHUP comes when the terminal or session the broker was started from closes, and from init
  // scripts: Node's default would end the process at once, with no stop and no log line. A broker
  // that logs to a file runs detached from any terminal, and there SIGHUP is what logrotate sends
  // after renaming the file: it reopens the log instead.
  const early = takeOverSignals();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    if (signal === 'SIGHUP' && output.file !== undefined) process.on(signal, () => reopenLog(output, logger));
    else process.on(signal, () => onSignal(signal));
  }
  // what came while the modules loaded; a SIGHUP to reopen the log came before the file was opened, and is answered
  const earlyStop = early.find((signal) => signal !== 'SIGHUP' || output.file === undefined);
  if (earlyStop !== undefined) onSignal(earlyStop);
  try {
    server = await startServer(config, logger, { signal: waiting.signal });
  } catch (err) {
    if (isFerryError(err, 'FERRY_BROKER_STOPPING') && stopRequested !== undefined) {
      logger.info({ event: 'broker.stopped', signal: stopRequested, during: 'start' }, `stopped during start: ${err.message}`);
      exit(0);
      return;
    }
    const refusal = listenerRefused(err, config, origins) ?? err;
    // standard error says it too (main.ts); a log kept in a file would otherwise not say why the broker is not there
    logger.fatal({ event: 'broker.start-failed', err: refusal }, `could not start: ${refusal instanceof Error ? refusal.message : String(refusal)}`);
    await output.written();
    throw refusal;
  }
  const watch = (running: RunningServer): void => {
    // a broker that lost its lease has stopped writing and closed its listeners; its supervisor restarts it, as a backup
    void running.fenced.then((reason) => {
      logger.fatal({ event: 'broker.fenced', reason }, `stopped: ${reason}`);
      exit(3);
    });
    // the broker logged broker.load-failed and stopped rather than serve queues it could not make whole
    void running.loadFailed.then(() => exit(1));
    // failback: having handed the lease over cleanly, this broker waits as the backup
    void running.handedBack.then(async (to) => {
      logger.info({ event: 'ha.handed-back', to }, `handed the lease to ${to}; waiting as the backup`);
      server = undefined;
      try {
        server = await startServer(config, logger, { signal: waiting.signal });
      } catch (err) {
        if (isFerryError(err, 'FERRY_BROKER_STOPPING') && stopRequested !== undefined) {
          logger.info({ event: 'broker.stopped', signal: stopRequested, during: 'start' }, `stopped during start: ${err.message}`);
          exit(0);
          return;
        }
        logger.fatal({ event: 'broker.start-failed', err }, 'could not start again as the backup');
        exit(1);
        return;
      }
      watch(server);
      logger.info({ event: 'broker.started', data: config.data, store: config.store.type, ports: server.ports }, 'Ferry started');
      if (stopRequested !== undefined) stop(stopRequested);
    });
  };
  watch(server);
  // a broker with every listener off still runs until told to stop
  const keepAlive = setInterval(() => {}, 1 << 30);
  process.once('exit', () => clearInterval(keepAlive));
  logger.info({ event: 'broker.started', data: config.data, store: config.store.type, ports: server.ports }, 'Ferry started');
  if (stopRequested !== undefined) stop(stopRequested);
}

/** After logrotate renamed the file: the next lines go to a new one at the same path. */
function reopenLog(output: LogOutput, logger: Logger): void {
  output.reopen((err) => {
    if (err === undefined) logger.info({ event: 'log.reopened', file: output.file }, 'log file reopened');
    else logger.error({ event: 'log.reopen-failed', file: output.file, err }, `could not reopen the log file ${output.file!}; writing on to the one open`);
  });
}
