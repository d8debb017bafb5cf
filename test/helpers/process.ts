import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ferryBin = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface BrokerProcess {
  readonly child: ChildProcess;
  readonly ports: Record<string, number>;
  /** Every log line so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Lines on standard output that are not JSON log lines (there should be none). */
  readonly otherOutput: string[];
  /** Everything written to standard error so far (an uncaught exception's stack lands here). */
  stderr(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number | null>;
  /** Resolves with the first log line (past or future) with this `event`. */
  logged(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Every listener but the ones a test names gets a free port on 127.0.0.1, so tests never collide on fixed ports. */
const freePorts: NodeJS.ProcessEnv = Object.fromEntries(
  ['HTTP', 'AMQP', 'MQTT', 'OPENWIRE', 'WS'].flatMap((listener) => [
    [`FERRY_${listener}_PORT`, '0'],
    [`FERRY_${listener}_HOST`, '127.0.0.1'],
  ]),
);

/**
 * Starts `ferry start` as a child process and waits for the log line that says it has started (or
 * another, `readyEvent`: a backup logs `ha.backup` and starts only when it takes over); `launcher`
 * is a command that runs node in its place (`prlimit --nofile=256:256`, `ip netns exec NAME`).
 */
export function spawnBroker(args: string[], env: NodeJS.ProcessEnv = {}, readyEvent = 'broker.started', launcher: readonly string[] = [], readyTimeoutMs = 180_000): Promise<BrokerProcess> {
  // a launcher (`prlimit --nofile=...`) execs node in its own place: the child's pid stays the broker's
  const command = [...launcher, process.execPath, ferryBin, 'start', ...args];
  const child = spawn(command[0]!, command.slice(1), { env: { ...freePorts, ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  const otherOutput: string[] = [];
  const ports: Record<string, number> = {};
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const waiters: { event: string; resolve: (entry: Record<string, unknown>) => void }[] = [];
  const logged = (event: string, timeoutMs = 60_000): Promise<Record<string, unknown>> => {
    const past = logs.find((entry) => entry['event'] === event);
    if (past !== undefined) return Promise.resolve(past);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // what the broker was doing instead, so that a failure in a loaded run can be told from a slow one
        const state = child.exitCode !== null || child.signalCode !== null ? `it exited (${String(child.exitCode ?? child.signalCode)})` : 'it still runs';
        const last = logs.slice(-6).map((entry) => `${String(entry['event'])}: ${String(entry['msg'])}`).join(' | ');
        reject(new Error(`no "${event}" log line within ${timeoutMs} ms; ${state}; its last log lines: ${last === '' ? 'none' : last}; its stderr ends: ${stderr.slice(-600) || 'nothing'}`));
      }, timeoutMs);
      waiters.push({ event, resolve: (entry) => (clearTimeout(timer), resolve(entry)) });
    });
  };
  const lastLines = (): string => logs.slice(-6).map((entry) => `${String(entry['event'])}: ${String(entry['msg'])}`).join(' | ') || 'none';
  return new Promise((resolve, reject) => {
    // a broker that never gets ready fails the test that waits for it, and is not left running
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(readyTimer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      reject(new Error(`ferry start ${why}; its last log lines: ${lastLines()}; its stderr ends: ${stderr.slice(-600) || 'nothing'}`));
    };
    const readyTimer = setTimeout(() => fail(`logged no "${readyEvent}" within ${readyTimeoutMs} ms`), readyTimeoutMs);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        otherOutput.push(line);
        return;
      }
      logs.push(entry);
      if (entry['event'] === 'listener.ready') ports[entry['protocol'] as string] = entry['port'] as number;
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.event === entry['event']) waiters.splice(i, 1)[0]!.resolve(entry);
      }
      // one meant to wait as the backup that finds no live holder takes the lease and starts instead
      if (readyEvent === 'ha.backup' && entry['event'] === 'broker.started') fail('took the lease and started instead of waiting as the backup (did the primary stop?)');
      if (entry['event'] === readyEvent && !settled) {
        settled = true;
        clearTimeout(readyTimer);
        resolve({
          child,
          ports,
          logs,
          otherOutput,
          stderr: () => stderr,
          exited,
          logged,
          stop(signal = 'SIGTERM') {
            child.kill(signal);
            return exited;
          },
        });
      }
    });
    exited.then((code) => {
      if (settled) return;
      settled = true;
      clearTimeout(readyTimer);
      reject(new Error(`ferry start exited with ${code} before starting; its last log lines: ${lastLines()}; its stderr: ${stderr || 'nothing'}`));
    });
  });
}

export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a `ferry` command to completion. */
export function runFerry(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number } = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ferryBin, ...args], { env: { ...process.env, ...(options.env ?? {}) }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ferry ${args.join(' ')} did not finish in time: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}
