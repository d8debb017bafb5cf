import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interopScript, missingPrerequisite } from './interop.js';

/**
 * ActiveMQ's own JMS client (Debian's `libactivemq-java`) driven by test/interop/jms/JmsChecks.java,
 * compiled once per version of its source with the JDK's `javac`.
 */
const JARS = [
  'activemq-client.jar',
  'geronimo-jms_1.1_spec.jar',
  'geronimo-j2ee-management-1.1-spec.jar',
  'geronimo-jta-1.2-spec.jar',
  'hawtbuf.jar',
  'slf4j-api.jar',
  'slf4j-nop.jar',
].map((jar) => `/usr/share/java/${jar}`);

/** Why the JMS checks cannot run here, or undefined when they can. */
export function jmsMissing(): string | undefined {
  const javac = spawnSync('javac', ['-version'], { encoding: 'utf8' }).status === 0;
  const missing = JARS.filter((jar) => !existsSync(jar));
  return (
    missingPrerequisite('a JDK (javac)', javac, 'apt-get install openjdk-17-jdk-headless') ??
    missingPrerequisite(`ActiveMQ's JMS client (${missing.join(', ')})`, missing.length === 0, 'apt-get install libactivemq-java')
  );
}

let classes: string | undefined;

/** The folder of the compiled checks, compiling them the first time (and whenever the source changes). */
function compiled(): string {
  if (classes !== undefined) return classes;
  const source = interopScript('jms/JmsChecks.java');
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16);
  const folder = join(tmpdir(), `ferry-jms-checks-${hash}`);
  if (!existsSync(join(folder, 'JmsChecks.class'))) {
    mkdirSync(folder, { recursive: true });
    const result = spawnSync('javac', ['-nowarn', '-d', folder, '-cp', JARS.join(':'), source], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`javac failed:\n${result.stderr}`);
  }
  classes = folder;
  return folder;
}

function args(url: string, check: string, rest: readonly string[]): string[] {
  return ['-cp', [compiled(), ...JARS].join(':'), 'JmsChecks', url, check, ...rest];
}

/** What one check printed, by key (a key printed twice keeps every value, in order). */
export type JmsResult = Map<string, (string | number | boolean | null)[]>;

function parse(stdout: string): JmsResult {
  const result: JmsResult = new Map();
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const { key, value } = JSON.parse(line) as { key: string; value: string | number | boolean | null };
    const values = result.get(key);
    if (values === undefined) result.set(key, [value]);
    else values.push(value);
  }
  return result;
}

/** Runs one check to its end; rejects with what it printed when it fails. */
export function jmsCheck(url: string, check: string, ...rest: string[]): Promise<JmsResult> {
  return new Promise((resolve, reject) => {
    execFile('java', args(url, check, rest), { timeout: 90_000 }, (err, out, errOut) => {
      if (err) reject(new Error(`JmsChecks ${check} failed: ${err.message}\n${out}\n${errOut}`));
      else resolve(parse(out));
    });
  });
}

/** The one value of `key`. */
export function one(result: JmsResult, key: string): string | number | boolean | null {
  const values = result.get(key);
  if (values === undefined || values.length !== 1) throw new Error(`expected one "${key}", got ${JSON.stringify(values)} in ${JSON.stringify([...result])}`);
  return values[0]!;
}

/** A check that runs while the test does something to the broker; `lines` grows as it prints. */
export interface RunningCheck {
  readonly child: ChildProcess;
  readonly lines: { key: string; value: unknown }[];
  /** Resolves when a line with `key` has been printed at least `count` times. */
  printed(key: string, count?: number): Promise<void>;
  /** Resolves with everything it printed, once it exits (rejects if it fails). */
  finished(): Promise<JmsResult>;
}

export function startJmsCheck(url: string, check: string, ...rest: string[]): RunningCheck {
  const child = spawn('java', args(url, check, rest), { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: { key: string; value: unknown }[] = [];
  let stdout = '';
  let stderr = '';
  const waiters: (() => void)[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    let end: number;
    while ((end = stdout.indexOf('\n')) >= 0) {
      const line = stdout.slice(0, end);
      stdout = stdout.slice(end + 1);
      if (line.startsWith('{')) lines.push(JSON.parse(line) as { key: string; value: unknown });
    }
    for (const waiter of waiters.splice(0)) waiter();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  timer.unref();
  return {
    child,
    lines,
    printed(key, count = 1) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (lines.filter((l) => l.key === key).length >= count) resolve();
          else if (child.exitCode !== null) reject(new Error(`the check ended before printing "${key}" ${count} times: ${JSON.stringify(lines)}\n${stderr}`));
          else waiters.push(check);
        };
        child.on('exit', () => check());
        check();
      });
    },
    async finished() {
      const code = await exited;
      clearTimeout(timer);
      const result: JmsResult = new Map();
      for (const { key, value } of lines) {
        const values = result.get(key) ?? [];
        values.push(value as string);
        result.set(key, values);
      }
      if (code !== 0) throw new Error(`the check exited with ${code}: ${JSON.stringify(lines)}\n${stderr}`);
      return result;
    },
  };
}
