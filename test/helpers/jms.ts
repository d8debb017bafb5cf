import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { JMS_CLIENT_INSTALL_HINT, compileJava, javaCommand, jmsClientMissing } from '../../bench/java.js';
import { missingPrerequisite } from './interop.js';

/**
 * ActiveMQ's own JMS client (Debian's `libactivemq-java`) driven by test/interop/jms/JmsChecks.java,
 * compiled (and cached) the way the OpenWire driver is.
 */
const sources = fileURLToPath(new URL('../../../test/interop/jms/', import.meta.url));

/** Why the JMS checks cannot run here, or undefined when they can. */
export function jmsMissing(): string | undefined {
  const missing = jmsClientMissing();
  return missingPrerequisite(`ActiveMQ's JMS client: ${missing ?? ''}`, missing === undefined, JMS_CLIENT_INSTALL_HINT);
}

let classPath: string | undefined;

/** What one check printed, by key (a key printed twice keeps every value, in order). */
export type JmsResult = Map<string, (string | number | boolean | null)[]>;

/**
 * Runs one check to its end; rejects with what it printed when it fails. `heard` is told each key
 * as soon as the check prints it, while it still runs (a test that kills the broker the moment the
 * client has its answer).
 */
export function jmsCheck(url: string, check: string, ...rest: string[]): Promise<JmsResult> {
  return jmsCheckHeard(url, check, rest, () => {});
}

/** `jmsCheck` in a JVM started with `jvmOptions` (`-Djavax.net.ssl.trustStore=...` for an ssl:// URL). */
export function jmsCheckWith(jvmOptions: readonly string[], url: string, check: string, ...rest: string[]): Promise<JmsResult> {
  return jmsCheckHeard(url, check, rest, () => {}, jvmOptions);
}

export function jmsCheckHeard(url: string, check: string, rest: readonly string[], heard: (key: string) => void, jvmOptions: readonly string[] = []): Promise<JmsResult> {
  classPath ??= compileJava(sources);
  const [java, args] = javaCommand(classPath, 'JmsChecks', [url, check, ...rest], jvmOptions);
  return new Promise((resolve, reject) => {
    const result: JmsResult = new Map();
    let partial = '';
    const child = execFile(java, args, { timeout: 90_000 }, (err, out, errOut) => {
      if (err) reject(new Error(`JmsChecks ${check} failed: ${err.message}\n${out}\n${errOut}`));
      else resolve(result);
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const { key, value } = JSON.parse(line) as { key: string; value: string | number | boolean | null };
        result.set(key, [...(result.get(key) ?? []), value]);
        heard(key);
      }
    });
  });
}

/** The one value of `key`. */
export function one(result: JmsResult, key: string): string | number | boolean | null {
  const values = result.get(key);
  if (values === undefined || values.length !== 1) throw new Error(`expected one "${key}", got ${JSON.stringify(values)} in ${JSON.stringify([...result])}`);
  return values[0]!;
}
