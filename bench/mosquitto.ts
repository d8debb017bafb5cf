// Starts a fresh Eclipse Mosquitto 2.0 (Debian's `mosquitto` package) for one benchmark run: its own
// folder and config file, one MQTT listener on a free port on 127.0.0.1, anonymous clients, no
// persistence. Every other setting is Mosquitto's default, except the per-client queue.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stopChild, track, watchExit } from './children.js';
import { BenchSetupError, freePort, tailOf, waitForPort } from './broker.js';
import type { RunningBroker } from './broker.js';

export const DEFAULT_MOSQUITTO = '/usr/sbin/mosquitto';

export const MOSQUITTO_INSTALL_HINT =
  'Mosquitto was not found. Install it with `sudo apt-get install mosquitto` (Debian/Ubuntu), or point\n' +
  '--mosquitto at its executable. To leave it out, pass --broker ferry,activemq.';

export interface MosquittoOptions {
  executable: string;
  startTimeoutMs?: number;
  keepFolder?: boolean;
}

export function mosquittoInstalled(executable: string): boolean {
  return existsSync(executable);
}

function config(port: number): string {
  // max_queued_messages (default 1000) bounds what a client may have queued beyond its in-flight
  // messages; the benchmark's window (5,000 by default) must fit, or Mosquitto drops the excess and
  // the run measures losses instead of throughput. max_inflight_messages stays at its default (20).
  return `listener ${port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 1000000
max_queued_bytes 0
log_dest stderr
log_type error
log_type warning
log_type notice
`;
}

export async function startMosquitto(options: MosquittoOptions): Promise<RunningBroker> {
  if (!mosquittoInstalled(options.executable)) {
    throw new BenchSetupError('BENCH_MOSQUITTO_MISSING', MOSQUITTO_INSTALL_HINT);
  }
  const base = mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-mosquitto-'));
  const configFile = path.join(base, 'mosquitto.conf');
  const logFile = path.join(base, 'broker.log');
  const host = '127.0.0.1';
  const port = await freePort(host);
  writeFileSync(configFile, config(port));

  const logFd = openSync(logFile, 'a');
  const child = spawn(options.executable, ['-c', configFile], { cwd: base, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  track(child, options.keepFolder ? undefined : base);
  const { exited } = watchExit(child);
  const cleanUp = (): Promise<void> => stopChild(child);

  try {
    await waitForPort(host, port, options.startTimeoutMs ?? 30_000, exited);
  } catch (err) {
    const log = tailOf(logFile);
    await cleanUp();
    throw new BenchSetupError('BENCH_MOSQUITTO_START', `Mosquitto did not start:\n${log}`, { cause: err });
  }
  const pid = child.pid;
  if (pid === undefined) throw new BenchSetupError('BENCH_MOSQUITTO_START', 'Mosquitto has no pid');
  return { name: 'mosquitto', pid, host, ports: { mqtt: port }, logFile, exited, stop: cleanUp };
}
