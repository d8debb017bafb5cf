// Lifecycle of the broker processes the benchmark starts: each is stopped with SIGTERM, then
// SIGKILL after a grace period, and none may outlive the benchmark, whether it ends normally,
// throws, or is interrupted with Ctrl-C. Their temporary folders go with them unless kept.

import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

interface Tracked {
  child: ChildProcess;
  /** Removed once the process has exited; undefined to keep it. */
  folder: string | undefined;
}

const live = new Map<ChildProcess, Tracked>();
let handlersInstalled = false;
let interrupted = false;

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function removeFolder(tracked: Tracked): void {
  if (tracked.folder !== undefined) rmSync(tracked.folder, { recursive: true, force: true });
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // 'exit' handlers must be synchronous: whatever is still alive at that point gets SIGKILL.
  process.on('exit', () => {
    for (const tracked of live.values()) {
      if (isRunning(tracked.child)) tracked.child.kill('SIGKILL');
      removeFolder(tracked);
    }
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}, stopping the brokers\n`);
    void stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
}

/** True once Ctrl-C (or SIGTERM/SIGHUP) has been received: start nothing new. */
export function wasInterrupted(): boolean {
  return interrupted;
}

/** Registers a child so that it is killed, and `folder` removed, if the benchmark exits first. */
export function track(child: ChildProcess, folder: string | undefined): void {
  installHandlers();
  live.set(child, { child, folder });
}

/** SIGTERM, then SIGKILL once `graceMs` has passed without the process exiting; then the folder. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  const tracked = live.get(child);
  live.delete(child);
  if (isRunning(child)) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const ac = new AbortController();
    const outcome = await Promise.race([
      exited.then(() => 'exited' as const),
      sleep(graceMs, 'timeout' as const, { signal: ac.signal }).catch(() => 'exited' as const),
    ]);
    ac.abort();
    if (outcome === 'timeout' && isRunning(child)) {
      child.kill('SIGKILL');
      await exited;
    }
  }
  if (tracked !== undefined) removeFolder(tracked);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live.keys()].map((child) => stopChild(child, 5_000)));
}

/** Whether a started broker has gone (it exited, or could not be spawned at all), and why it could not be spawned. */
export function watchExit(child: ChildProcess): { exited: () => boolean; spawnError: () => Error | undefined } {
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  return { exited: () => spawnError !== undefined || child.exitCode !== null || child.signalCode !== null, spawnError: () => spawnError };
}
