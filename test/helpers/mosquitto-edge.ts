import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as unixConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions } from 'mqtt';
import { missingPrerequisite } from './interop.js';
import { MqttInbox } from './mqtt.js';

export const mosquittoBin = '/usr/sbin/mosquitto';

/** Why a test that runs Mosquitto as a bridging edge broker cannot run here, or undefined. */
export const mosquittoBrokerMissing = missingPrerequisite(`the Mosquitto broker (${mosquittoBin})`, existsSync(mosquittoBin), 'apt-get install mosquitto');

/**
 * A Mosquitto broker that bridges to Ferry, as an edge broker does: its own listener is a unix
 * socket in a folder of its own, so it needs no TCP port; `bridge` is the `connection` section of
 * its configuration (after `connection` and `address`). Its log goes to standard error (standard output is buffered on a pipe), where
 * `logged` waits for lines.
 */
export class MosquittoEdge {
  readonly dir = mkdtempSync(join(tmpdir(), 'ferry-mosquitto-'));
  readonly socketPath = join(this.dir, 'edge.sock');
  private child: ChildProcess | undefined;
  private output = '';
  private waiters: (() => void)[] = [];

  constructor(ferryMqttPort: number, bridge: readonly string[], persistent = false) {
    const lines = [
      `listener 0 ${this.socketPath}`,
      'allow_anonymous true',
      'log_dest stderr',
      'log_type all',
      `persistence ${persistent}`,
      `persistence_location ${this.dir}/`,
      // run as root, Mosquitto would switch to user mosquitto, who may not write in this folder
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'connection central',
      `address 127.0.0.1:${ferryMqttPort}`,
      ...bridge,
    ];
    writeFileSync(join(this.dir, 'edge.conf'), lines.join('\n') + '\n');
  }

  /** Starts the broker and resolves once it listens. */
  async start(): Promise<void> {
    this.output = '';
    const child = spawn(mosquittoBin, ['-c', join(this.dir, 'edge.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (chunk: Buffer): void => {
      this.output += chunk.toString();
      for (const wake of this.waiters.splice(0)) wake();
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    child.once('exit', () => {
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.child = child;
    await this.logged(' running');
  }

  /** Everything this run of the broker logged. */
  get log(): string {
    return this.output;
  }

  /** Resolves once this run's log holds `text` `times` times. */
  async logged(text: string, times = 1, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.output.split(text).length - 1 >= times) return;
      const left = deadline - Date.now();
      if (left <= 0 || this.child?.exitCode !== null) {
        throw new Error(`Mosquitto did not log "${text}" ${times} times (${this.child?.exitCode === null ? 'still running' : 'exited'}); its log ends: ${this.output.slice(-1500)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  }

  /** An MQTT.js client of the edge broker, over its unix socket. */
  async client(options: IClientOptions = {}): Promise<{ client: mqtt.MqttClient; inbox: MqttInbox }> {
    const client = new mqtt.MqttClient(() => unixConnect(this.socketPath), { protocolVersion: 4, reconnectPeriod: 0, ...options });
    const inbox = new MqttInbox(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    return { client, inbox };
  }

  async dispose(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
