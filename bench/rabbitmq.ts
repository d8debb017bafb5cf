// Starts a fresh RabbitMQ 3.x (Debian's `rabbitmq-server` package) with its AMQP 1.0 plugin for one
// benchmark run: its own folder (config, enabled plugins, Mnesia, logs, Erlang cookie), the AMQP
// listener (0-9-1 and 1.0 share it) and the Erlang distribution port on free ports of 127.0.0.1.
// Everything else is RabbitMQ's default.
//
// Debian's `/usr/sbin/rabbitmq-server` is a wrapper that `su`s to the `rabbitmq` user, which leaves
// the node with a 1,024 open-file limit and a shell between us and the VM. Run as root, the launcher
// instead drops to `rabbitmq` with setpriv and runs the package's own script with
// RUNNING_UNDER_SYSTEMD set, so that the script execs the VM: the child is beam.smp itself, whose
// CPU time is the broker's, and SIGTERM stops the node cleanly. Run as another user, the script is
// run as that user.

import { execFileSync, spawn } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stopChild, track, watchExit } from './children.js';
import { BenchSetupError, freePort, tailOf, waitForPort } from './broker.js';
import type { RunningBroker } from './broker.js';

export const DEFAULT_RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

export const RABBITMQ_INSTALL_HINT =
  'RabbitMQ was not found. Install it with `sudo apt-get install rabbitmq-server` (Debian/Ubuntu; the AMQP 1.0\n' +
  'plugin is part of the package), or point --rabbitmq at its sbin/rabbitmq-server script. To leave it\n' +
  'out, pass --broker ferry,activemq,mosquitto.';

export interface RabbitMqOptions {
  /** The package's own start script (not Debian's su wrapper in /usr/sbin). */
  server: string;
  /** A node needs 5-15 s to boot on a small machine. */
  startTimeoutMs?: number;
  keepFolder?: boolean;
}

export function rabbitMqInstalled(server: string): boolean {
  return existsSync(server);
}

/**
 * The AMQP 1.0 address of queue `name`. RabbitMQ 3.x's plugin declares the queue on the first attach
 * to `/queue/NAME`, durable only if the link's terminus is durable (`/amq/queue/NAME` expects the
 * queue to exist; 4.x spells it `/queues/NAME`). Checked on 3.10: both ends of a link take it.
 */
export function rabbitQueueAddress(name: string): string {
  return `/queue/${name}`;
}

/** uid and gid of the `rabbitmq` account, when there is one. */
function rabbitAccount(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'rabbitmq'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'rabbitmq'], { encoding: 'utf8' }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const entry of readdirSync(dir)) {
    const child = path.join(dir, entry);
    if (statSync(child).isDirectory()) chownTree(child, uid, gid);
    else chownSync(child, uid, gid);
  }
}

export async function startRabbitMq(options: RabbitMqOptions): Promise<RunningBroker> {
  if (!rabbitMqInstalled(options.server)) throw new BenchSetupError('BENCH_RABBITMQ_MISSING', RABBITMQ_INSTALL_HINT);
  const base = mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-rabbitmq-'));
  const logFile = path.join(base, 'broker.log');
  const host = '127.0.0.1';
  const amqpPort = await freePort(host);
  const distPort = await freePort(host);
  for (const dir of ['mnesia', 'log']) mkdirSync(path.join(base, dir));
  // loopback_users = none: guest/guest is refused from anywhere but loopback by default, and the
  // benchmark connects over loopback, but an explicit setting keeps that from depending on how the
  // address is resolved.
  writeFileSync(
    path.join(base, 'rabbitmq.conf'),
    `listeners.tcp.default = ${host}:${amqpPort}\nloopback_users = none\n`,
  );
  writeFileSync(path.join(base, 'enabled_plugins'), '[rabbitmq_amqp1_0].\n');

  const asRoot = process.getuid?.() === 0;
  const account = asRoot ? rabbitAccount() : undefined;
  if (asRoot && account === undefined) {
    throw new BenchSetupError('BENCH_RABBITMQ_START', 'run as root, the launcher needs the `rabbitmq` account that the package creates');
  }
  if (account !== undefined) chownTree(base, account.uid, account.gid);

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // a node name of its own, so that a system RabbitMQ (or another run) on the machine is left alone
    RABBITMQ_NODENAME: `ferrybench${amqpPort}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: host,
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONFIG_FILE: path.join(base, 'rabbitmq.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(base, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: path.join(base, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(base, 'log'),
    RABBITMQ_LOGS: '-',
    // the Erlang cookie is created in $HOME: the temporary folder, not the account's home
    HOME: base,
    // makes the script exec the VM instead of waiting on it from a shell
    RUNNING_UNDER_SYSTEMD: 'true',
  };
  const [command, args] =
    account === undefined
      ? [options.server, [] as string[]]
      : ['setpriv', [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups', options.server]];
  const logFd = openSync(logFile, 'a');
  const child = spawn(command, args, { cwd: base, env, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  track(child, options.keepFolder ? undefined : base);
  const { exited } = watchExit(child);
  // a VM that boots shuts down in a few seconds on SIGTERM; it is killed if it takes longer than 20
  const cleanUp = (): Promise<void> => stopChild(child, 20_000);

  try {
    await waitForPort(host, amqpPort, options.startTimeoutMs ?? 90_000, exited);
  } catch (err) {
    const log = tailOf(logFile);
    await cleanUp();
    throw new BenchSetupError('BENCH_RABBITMQ_START', `RabbitMQ did not start:\n${log}`, { cause: err });
  }
  const pid = child.pid;
  if (pid === undefined) throw new BenchSetupError('BENCH_RABBITMQ_START', 'RabbitMQ has no pid');
  return { name: 'rabbitmq', pid, host, ports: { amqp: amqpPort }, logFile, exited, stop: cleanUp };
}
