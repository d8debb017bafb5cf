import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { compileJava, javaCommand, jmsClientMissing, JMS_CLIENT_INSTALL_HINT } from '../../bench/java.js';
import { missingPrerequisite } from './interop.js';

/** test/interop/openwire/, where the JMS driver's sources are, from the compiled helper in dist/test/helpers/. */
const driverSources = fileURLToPath(new URL('../../../test/interop/openwire/', import.meta.url));

/** Why the JMS driver cannot run here (the missing jar or JDK, by package), or undefined when it can. */
export function openwireJavaMissing(): string | undefined {
  const missing = jmsClientMissing();
  return missingPrerequisite(`ActiveMQ's JMS client: ${missing ?? ''}`, missing === undefined, JMS_CLIENT_INSTALL_HINT);
}

let classPath: string | undefined;

/** Compiles the driver once per test process (and not at all while the cached classes are fresh). */
function driverClassPath(): string {
  classPath ??= compileJava(driverSources);
  return classPath;
}

export type DriverLine = Record<string, unknown>;

export interface DriverResult {
  readonly code: number | null;
  readonly lines: DriverLine[];
  readonly stderr: string;
}

export type DriverOptions = Record<string, string | number>;

export interface RunningDriver {
  readonly done: Promise<DriverResult>;
  kill(): void;
}

/**
 * Starts `JmsDriver COMMAND --url URL --name value...`; each JSON line goes to `onLine` as it comes.
 * The driver stops itself after `timeoutMs` less a margin; the JVM is killed at `timeoutMs` if not.
 */
export function spawnDriver(command: string, url: string, options: DriverOptions = {}, timeoutMs = 60_000, onLine?: (line: DriverLine) => void): RunningDriver {
  const args = [command, '--url', url, '--deadline', String(Math.max(1000, timeoutMs - 5000))];
  for (const [name, value] of Object.entries(options)) args.push(`--${name}`, String(value));
  const [java, javaArgs] = javaCommand(driverClassPath(), 'JmsDriver', args);
  const child = spawn(java, javaArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: DriverLine[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: DriverLine;
    try {
      line = JSON.parse(text) as DriverLine;
    } catch {
      line = { event: 'output', text };
    }
    lines.push(line);
    onLine?.(line);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<DriverResult>((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.stdout.once('close', () => {
      const finish = (code: number | null): void => {
        clearTimeout(timer);
        resolve({ code, lines, stderr });
      };
      if (child.exitCode !== null || child.signalCode !== null) finish(child.exitCode);
      else child.once('exit', (code) => finish(code));
    });
  });
  return { done, kill: () => child.kill('SIGKILL') };
}

/** Runs a driver command to completion; fails with the driver's own error line unless `expectFailure`. */
export async function runDriver(command: string, url: string, options: DriverOptions = {}, timeoutMs = 60_000, expectFailure = false): Promise<DriverResult> {
  const result = await spawnDriver(command, url, options, timeoutMs).done;
  if (!expectFailure && (result.code !== 0 || !result.lines.some((l) => l['event'] === 'done'))) {
    throw new Error(`JmsDriver ${command} failed (exit ${result.code}):\n${result.lines.map((l) => JSON.stringify(l)).join('\n')}\n${result.stderr}`);
  }
  return result;
}

/** The one line of `event`; an error naming what was printed instead when there is none. */
export function eventLine(result: DriverResult, event: string): DriverLine {
  const found = result.lines.filter((l) => l['event'] === event);
  if (found.length !== 1) throw new Error(`expected one "${event}" line, got ${found.length}:\n${result.lines.map((l) => JSON.stringify(l)).join('\n')}`);
  return found[0]!;
}
