import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();

/**
 * A new empty folder under the system's temporary folder, removed when the test file's process
 * exits. Not in an `after` hook of the test: a test's hooks run in the order they were added, so a
 * removal added before a store's `close` ran first, and a close that still had something to write
 * (a journal keeps acknowledgements' deletes back for a moment) failed on the missing folder.
 */
export async function testFolder(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (made.size === 0) process.once('exit', removeAll);
  made.add(dir);
  return dir;
}

function removeAll(): void {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
}
