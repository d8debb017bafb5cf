// Starts Ferry as a child process on port 0 with a temporary data folder and reads the bound STOMP
// port back from its `listener.ready` log line.

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stopChild, track, watchExit } from './children.js';
import { BenchSetupError, tailOf } from './broker.js';
import type { ClientSecurity, RunningBroker } from './broker.js';

/** dist/bench/ferry.js → dist/src/cli/main.js */
export const FERRY_MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export interface FerryOptions {
  /** Ferry's CLI entry point; by default the one built next to this benchmark. */
  main?: string;
  startTimeoutMs?: number;
  keepFolder?: boolean;
  /** Extra options for Ferry's Node, before its entry point (e.g. `--trace-gc`, `--import FILE`). */
  nodeArgs?: readonly string[];
  /** A configuration file (`--config`), e.g. one with a `security` section; options still set the ports. */
  config?: string;
  /**
   * For the secure scenarios: `config` names TLS, users and authorization (secure.ts writes it), and
   * the STOMP and MQTT TLS listeners are switched on, on free ports; `client` is what their clients need.
   */
  secure?: { config: string; client: ClientSecurity };
  /** More `ferry start` options, after the ones above (e.g. `--http-port 0` for the management benchmark). */
  args?: readonly string[];
}

/** The event of a log line, and the protocol and port of a `listener.ready` one. */
function eventOf(line: string): { event: unknown; protocol: unknown; port: unknown } | undefined {
  if (!line.includes('listener.ready') && !line.includes('broker.started')) return undefined;
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof record !== 'object' || record === null) return undefined;
  const { event, protocol, port } = record as Record<string, unknown>;
  return { event, protocol, port };
}

export async function startFerry(options: FerryOptions = {}): Promise<RunningBroker & { readonly stompPort: number }> {
  const main = options.main ?? FERRY_MAIN;
  if (!existsSync(main)) {
    throw new BenchSetupError('BENCH_FERRY_MISSING', `${main} does not exist; run \`npm run build\` first`);
  }
  const base = mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-ferry-'));
  const dataDir = path.join(base, 'data');
  const logFile = path.join(base, 'broker.log');
  const host = '127.0.0.1';
  const log = createWriteStream(logFile);
  log.on('error', () => undefined); // the log is for reading after a failure, never a reason for one

  if (options.config !== undefined && options.secure !== undefined) {
    throw new BenchSetupError('BENCH_FERRY_START', 'a secure Ferry takes its configuration from its security setup, not from `config`');
  }
  const config = options.secure?.config ?? options.config;
  const args = [main, 'start', ...(config === undefined ? [] : ['--config', config]), '--data', dataDir, '--stomp-port', '0', '--mqtt-port', '0'];
  if (options.secure !== undefined) args.push('--stomp-tls-port', '0', '--mqtt-tls-port', '0');
  args.push(...(options.args ?? []));
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...args], {
    cwd: base,
    // STOMP, AMQP, MQTT and OpenWire are measured, on free ports. The HTTP and WebSocket listeners'
    // default ports are fixed (8161, 61614), so a second broker on the machine would make this one exit;
    // the environment, unlike an option, is simply ignored by a build that has no such listener.
    env: { ...process.env, FERRY_HTTP_PORT: 'off', FERRY_WS_PORT: 'off', FERRY_OPENWIRE_PORT: '0', FERRY_AMQP_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child, options.keepFolder ? undefined : base);
  child.stderr.pipe(log, { end: false });
  const { exited } = watchExit(child);

  const cleanUp = async (): Promise<void> => {
    await stopChild(child);
    log.end();
  };

  // stdout is read to its end for the whole run, not only until the port is known: a pipe that
  // nobody drains would block the broker's logger once the pipe's buffer is full.
  const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
  const ports: Record<string, number> = {};
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new BenchSetupError('BENCH_FERRY_TIMEOUT', 'Ferry did not report a STOMP listener in time')),
      options.startTimeoutMs ?? 30_000,
    );
    lines.on('line', (line) => {
      log.write(line + '\n');
      const record = eventOf(line);
      if (record?.event === 'listener.ready' && typeof record.protocol === 'string' && typeof record.port === 'number') {
        ports[record.protocol] = record.port;
      }
      // every listener is up once the broker says it has started
      const stomp = ports['stomp'];
      if (record?.event === 'broker.started' && stomp !== undefined) {
        clearTimeout(timer);
        resolve(stomp);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new BenchSetupError('BENCH_BROKER_EXITED', `Ferry exited (${signal ?? code}) before listening`));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new BenchSetupError('BENCH_FERRY_START', `could not run Ferry: ${err.message}`, { cause: err }));
    });
  });

  let stompPort: number;
  try {
    stompPort = await ready;
  } catch (err) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const tail = tailOf(logFile);
    await cleanUp();
    throw new BenchSetupError('BENCH_FERRY_START', `${(err as Error).message}:\n${tail}`, { cause: err });
  }
  const pid = child.pid;
  if (pid === undefined) throw new BenchSetupError('BENCH_FERRY_START', 'Ferry has no pid');
  return {
    name: 'ferry',
    pid,
    host,
    stompPort,
    ports,
    logFile,
    exited,
    stop: cleanUp,
    ...(options.secure === undefined ? {} : { secure: options.secure.client }),
  };
}
