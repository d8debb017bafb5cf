import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export interface Tmpfs {
  readonly dir: string;
  /**
   * Runs `stop` when the test ends, before the file system is unmounted. A test's own `after` hooks
   * run in the order they were added, so a broker stopped by one added after the mount would find
   * its journal folder already gone.
   */
  beforeUnmount(stop: () => unknown): void;
}

/**
 * Mounts a tmpfs of `bytes` on a new folder for the test and unmounts it when the test ends. Returns
 * undefined, having skipped the test with the reason, where mounting is not permitted (CI runs these
 * tests as root).
 */
export function mountTmpfs(t: TestContext, bytes: number): Tmpfs | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const reason = `a tmpfs cannot be mounted here (${((err as { stderr?: Buffer }).stderr?.toString() ?? String(err)).trim()}): run as root to test a full disk`;
    console.warn(`SKIPPED: ${reason}`);
    t.skip(reason);
    return undefined;
  }
  const stops: (() => unknown)[] = [];
  t.after(async () => {
    try {
      for (const stop of stops.reverse()) await stop();
    } finally {
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
  return { dir, beforeUnmount: (stop) => void stops.push(stop) };
}
