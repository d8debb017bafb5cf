import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';

/** A broker in a process of its own, so that a crash is an exit the fuzzing sees, and its log to read. */
export interface FuzzBroker {
  readonly process: BrokerProcess;
  readonly ports: Readonly<Record<string, number>>;
  /** What is wrong with the broker so far: it exited, wrote to standard error, logged an error or a stack. */
  health(): string[];
  /** Log lines read so far. */
  logLines(): number;
  stop(): Promise<void>;
}

/** True for a log line that carries a stack trace (an `err` logged with its stack, or any text with one). */
function hasStack(line: Record<string, unknown>): boolean {
  return /\n\s+at /.test(JSON.stringify(line).replace(/\\n/g, '\n'));
}

export async function startFuzzBroker(config = ''): Promise<FuzzBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-fuzz-'));
  const file = join(dir, 'ferry.yaml');
  writeFileSync(file, config);
  const proc = await spawnBroker(['--data', join(dir, 'data'), '--config', file, '--stomp-port', '0', '--stomp-host', '127.0.0.1', '--log-level', 'info']);
  let exit: number | null | undefined;
  void proc.exited.then((code) => (exit = code));
  const found: string[] = [];
  let linesRead = 0;
  return {
    process: proc,
    ports: proc.ports,
    health() {
      const problems: string[] = [];
      if (exit !== undefined) problems.push(`the broker exited (code ${exit})`);
      const stderr = proc.stderr().trim();
      if (stderr !== '') problems.push(`standard error: ${stderr.slice(0, 2000)}`);
      if (proc.otherOutput.length > 0) problems.push(`output that is not a log line: ${proc.otherOutput.slice(0, 5).join(' | ')}`);
      // a long run logs a warning for every connection it closes: lines are read once and let go
      for (const line of proc.logs.splice(0)) {
        linesRead++;
        if (found.length > 20) continue;
        const level = Number(line['level']);
        if (level >= 50) found.push(`logged at ${level === 50 ? 'error' : 'fatal'}: ${JSON.stringify(line).slice(0, 2000)}`);
        else if (hasStack(line)) found.push(`a stack trace in the log: ${JSON.stringify(line).slice(0, 2000)}`);
      }
      return [...problems, ...found];
    },
    logLines: () => linesRead,
    async stop() {
      if (exit === undefined) await proc.stop('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
