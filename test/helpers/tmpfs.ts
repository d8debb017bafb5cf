import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/**
 * Mounts a tmpfs of `bytes` on a new folder for the test and unmounts it afterwards (after the
 * test's other `after` hooks, which stop brokers on it). Returns undefined, having skipped the test
 * with the reason, where mounting is not permitted (CI runs these tests as root).
 */
export function mountTmpfs(t: TestContext, bytes: number): string | undefined {
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
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
