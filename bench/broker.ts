// What the runner needs from a broker under test, whichever broker it is.

import { readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type BrokerName = 'ferry' | 'mosquitto' | 'activemq' | 'rabbitmq';

/** What a client of a secure port needs: the authority to trust and the user to log in as. */
export interface ClientSecurity {
  /** PEM of the certificate authority that signed the broker's certificate. */
  readonly ca: string;
  readonly user: string;
  readonly password: string;
}

export interface RunningBroker {
  readonly name: BrokerName;
  /** The process whose CPU time is charged to the broker (for ActiveMQ, the JVM itself). */
  readonly pid: number;
  readonly host: string;
  /** Absent for a broker without STOMP (Mosquitto). */
  readonly stompPort?: number;
  /** Bound ports by protocol other than STOMP (Ferry: `amqp`, `mqtt`; ActiveMQ and Mosquitto: `mqtt`; RabbitMQ: `amqp`). */
  readonly ports?: Readonly<Record<string, number>>;
  /**
   * Set when the broker was started for the secure scenarios: its TLS ports (`stomp-tls`,
   * `mqtt-tls` in `ports`) present a certificate signed by `ca`, and every client must log in.
   */
  readonly secure?: ClientSecurity;
  /** Where the broker's own output goes, for the error messages of a failed run. */
  readonly logFile: string;
  /**
   * CPU time so far, in µs, of the broker and of the processes it stores through (a database), when
   * `pid` alone does not cover them; by default the runner reads `pid`'s.
   */
  cpuUs?(): number;
  /** The process exited on its own; the runner stops rather than measuring a dead broker. */
  exited(): boolean;
  stop(): Promise<void>;
}

export class BenchSetupError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BenchSetupError';
    this.code = code;
  }
}

/** A port that was free a moment ago (ActiveMQ needs one up front; Ferry binds port 0 itself). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

function tryConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Polls until the port accepts a connection; `gaveUp` ends the wait early (the process died). */
export async function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  gaveUp: () => boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gaveUp()) throw new BenchSetupError('BENCH_BROKER_EXITED', 'the broker exited before listening');
    if (await tryConnect(host, port)) return;
    await sleep(200);
  }
  throw new BenchSetupError('BENCH_BROKER_TIMEOUT', `nothing listened on ${host}:${port} within ${timeoutMs} ms`);
}

export function tailOf(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The port a broker serves `protocol` on, if it serves it. */
export function portFor(broker: RunningBroker, protocol: string): number | undefined {
  return protocol === 'stomp' ? broker.stompPort : broker.ports?.[protocol];
}

/** The broker process's resident memory in bytes (VmRSS of /proc/<pid>/status), NaN if unreadable. */
export function residentBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? Number.NaN : Number(match[1]) * 1024;
  } catch {
    return Number.NaN;
  }
}
