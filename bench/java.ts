// Compiling and running the small Java programs that drive ActiveMQ's own JMS client (Debian's
// libactivemq-java) against a broker: the interop tests' driver and the JMS benchmark's load program.
// No build tool: javac over one folder, into a cache folder reused while the class files are newer
// than every source.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The jars of ActiveMQ's JMS client, all from libactivemq-java and its dependencies. */
export const JMS_CLIENT_JARS = [
  '/usr/share/java/activemq-client.jar',
  '/usr/share/java/geronimo-jms_1.1_spec.jar',
  '/usr/share/java/hawtbuf.jar',
  // ActiveMQConnection implements the J2EE management statistics interfaces
  '/usr/share/java/geronimo-j2ee-management-1.1-spec.jar',
  '/usr/share/java/slf4j-api.jar',
  '/usr/share/java/slf4j-nop.jar',
] as const;

export const JMS_CLIENT_INSTALL_HINT = 'apt-get install libactivemq-java default-jdk-headless';

function javaTool(name: 'java' | 'javac'): string {
  return process.env['JAVA_HOME'] ? path.join(process.env['JAVA_HOME'], 'bin', name) : name;
}

/**
 * What is missing to compile and run a JMS client program, in words that name the jar or the
 * program and the package that provides it; undefined when nothing is.
 */
export function jmsClientMissing(): string | undefined {
  const jars = JMS_CLIENT_JARS.filter((jar) => !existsSync(jar));
  if (jars.length > 0) return `${jars.join(', ')} missing (Debian package libactivemq-java)`;
  for (const tool of ['javac', 'java'] as const) {
    const probe = spawnSync(javaTool(tool), ['-version'], { encoding: 'utf8' });
    if (probe.error !== undefined || probe.status !== 0) return `${javaTool(tool)} cannot run (Debian package default-jdk-headless)`;
  }
  return undefined;
}

function newestMtimeMs(files: readonly string[]): number {
  return Math.max(...files.map((f) => statSync(f).mtimeMs));
}

/**
 * Compiles every .java file in `sourceDir` into a cache folder named after it, unless the last
 * compile there is newer than every source; returns the class path to run them with.
 */
export function compileJava(sourceDir: string): string {
  const sources = readdirSync(sourceDir)
    .filter((f) => f.endsWith('.java'))
    .map((f) => path.join(sourceDir, f));
  if (sources.length === 0) throw new Error(`no .java files in ${sourceDir}`);
  const key = createHash('sha256').update(path.resolve(sourceDir)).digest('hex').slice(0, 12);
  const outDir = path.join(os.tmpdir(), `ferry-java-${key}`);
  const stamp = path.join(outDir, '.compiled');
  const classPath = [outDir, ...JMS_CLIENT_JARS].join(path.delimiter);
  if (existsSync(stamp) && statSync(stamp).mtimeMs > newestMtimeMs(sources)) return classPath;
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const javac = spawnSync(javaTool('javac'), ['-nowarn', '-encoding', 'UTF-8', '-d', outDir, '-cp', JMS_CLIENT_JARS.join(path.delimiter), ...sources], {
    encoding: 'utf8',
  });
  if (javac.error !== undefined) throw new Error(`cannot run ${javaTool('javac')} (${JMS_CLIENT_INSTALL_HINT}): ${javac.error.message}`);
  if (javac.status !== 0) throw new Error(`javac failed on ${sourceDir}:\n${javac.stderr}`);
  writeFileSync(stamp, '');
  return classPath;
}

export function javaCommand(classPath: string, mainClass: string, args: readonly string[], jvmOptions: readonly string[] = []): [string, string[]] {
  // a small heap and the serial collector keep several client JVMs light on a 2-core machine
  return [javaTool('java'), ['-Xmx256m', '-XX:+UseSerialGC', ...jvmOptions, '-cp', classPath, mainClass, ...args]];
}
