/**
 * `ferry start`'s signal handlers from the first moment of the process. Loading the broker's modules
 * and opening its store take seconds on a loaded machine; a SIGTERM (`systemctl stop`), SIGINT or
 * SIGHUP in that time would otherwise take Node's default action and end the process with no log
 * line. This module is main.ts's first import and imports nothing, so that its handlers are in place
 * before anything heavy loads: they note the signals, and start.ts takes them over once its logger
 * exists, then stops the start at its next safe point.
 */

export type StartSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

const caught: StartSignal[] = [];
const handlers = new Map<StartSignal, () => void>();
const waiters: (() => void)[] = [];

/** Notes every SIGINT, SIGTERM and SIGHUP until `takeOverSignals`. */
export function catchEarlySignals(): void {
  if (handlers.size > 0) return;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      // a second stop exits at once, as it does once the broker runs; SIGHUP's meaning (a stop, or
      // reopening log.file) waits for the configuration, so it does not count as the first
      if (signal !== 'SIGHUP' && caught.some((s) => s !== 'SIGHUP')) {
        process.stderr.write(`ferry: a second signal (${signal}) while starting: exiting now\n`);
        process.exit(1);
      }
      caught.push(signal);
      for (const wake of waiters.splice(0)) wake();
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }
}

/** The signals noted so far, in order; from here on the caller's own handlers answer them. */
export function takeOverSignals(): readonly StartSignal[] {
  for (const [signal, handler] of handlers) process.off(signal, handler);
  handlers.clear();
  return caught.slice();
}

/**
 * For tests only: with FERRY_TEST_HOLD_START_UNTIL_SIGNAL=1, `ferry start` says on standard error
 * that its early handlers are in place, then waits for a signal before it loads the broker, so that a
 * test can send one at exactly the moment this module exists for, without racing Node's own start-up.
 */
export async function heldForTest(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (env['FERRY_TEST_HOLD_START_UNTIL_SIGNAL'] !== '1' || handlers.size === 0) return;
  process.stderr.write('ferry: start held until a signal (FERRY_TEST_HOLD_START_UNTIL_SIGNAL)\n');
  // signal handlers alone do not keep Node's event loop alive
  const alive = setInterval(() => {}, 1 << 30);
  if (caught.length === 0) await new Promise<void>((resolve) => waiters.push(resolve));
  clearInterval(alive);
}

// the broker's own command only: the tools keep Node's default, where Ctrl-C ends them at once
if (process.argv[2] === 'start') catchEarlySignals();
