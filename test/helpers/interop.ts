import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Debian's Python, where the interop clients' modules live (the `python3` first on PATH may lack them). */
export const python = '/usr/bin/python3';

/** The path of a client script in test/interop/, from the compiled test in dist/test/interop/. */
export function interopScript(name: string): string {
  return fileURLToPath(new URL(`../../../test/interop/${name}`, import.meta.url));
}

/**
 * Why an interop test cannot run here, or undefined when it can. A missing prerequisite is said
 * loudly, and under CI it is an error: CI installs every one of them.
 */
export function missingPrerequisite(what: string, available: boolean, install: string): string | undefined {
  if (available) return undefined;
  const reason = `${what} is not installed (${install}); .ci/run installs it`;
  console.warn(`\n*** SKIPPING interop tests: ${reason} ***\n`);
  if (process.env['CI'] !== undefined) throw new Error(`interop prerequisites missing in CI: ${reason}`);
  return reason;
}

export function pythonModuleMissing(module: string, what: string, debianPackage: string): string | undefined {
  const probe = spawnSync(python, ['-c', `import ${module}`], { encoding: 'utf8' });
  return missingPrerequisite(`${what} for ${python}`, probe.status === 0, `apt-get install ${debianPackage}`);
}

/** Runs a program to completion and resolves with its standard output. */
export function run(file: string, args: readonly string[], timeout = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, [...args], { timeout }, (err, out, errOut) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${err.message}\n${errOut}`));
      else resolve(out);
    });
  });
}

/** The last line of a client script's output, which is its report as JSON. */
export function lastJsonLine<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}
