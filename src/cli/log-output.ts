import { once } from 'node:events';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino } from 'pino';

/** Log lines held while the output cannot take them; past this, new lines are dropped. */
const LOG_BACKLOG = 4 * 1024 * 1024;

/**
 * How long an exit waits for the log's last lines to reach their output: an output that hangs (a
 * stuck network disk) must not keep a stopped or fenced broker from exiting for its supervisor.
 */
const EXIT_FLUSH_LIMIT_MS = 5000;

type Destination = ReturnType<typeof pino.destination>;

/**
 * Where the log's JSON lines go, written asynchronously: standard output, or a file (`log.file`)
 * that can be reopened at its path after logrotate has renamed it. A write that fails (the log's
 * disk is full) does not stop the broker: lines wait, up to `LOG_BACKLOG`, and are dropped past
 * it, and writing goes on once the output takes them again. At exit, a failing output is let go
 * instead of flushed: its flush would retry the failed write for ever, and the process would never end.
 */
export class LogOutput {
  /** What pino writes to: the destination, with the bytes handed to it counted. */
  readonly stream: { write(line: string): boolean };
  private handed = 0;
  private done = 0;
  private failing = false;

  private readonly destination: Destination;

  private constructor(
    open: () => Destination,
    /** The file, or undefined for standard output. */
    readonly file: string | undefined,
  ) {
    // registered before the destination exists, and so before its own exit hook (its flush), which
    // then runs after this one: a failing output's flush would never end
    process.on('exit', () => {
      if (this.failing) this.destination.destroy();
    });
    const destination = (this.destination = open());
    this.stream = {
      write: (line: string): boolean => {
        this.handed += Buffer.byteLength(line);
        return destination.write(line);
      },
    };
    destination.on('error', () => void (this.failing = true));
    destination.on('write', (bytes: number) => {
      this.failing = false;
      this.done += bytes;
    });
    destination.on('drop', (line: string) => void (this.done += Buffer.byteLength(line)));
  }

  static standardOutput(): LogOutput {
    return new LogOutput(() => pino.destination({ dest: 1, sync: false, maxLength: LOG_BACKLOG }), undefined);
  }

  /**
   * Appends to `path`, creating it and its folder. The first open is tried synchronously so that a
   * path the broker cannot write stops the start with its reason; throws the system error.
   */
  static async appending(path: string): Promise<LogOutput> {
    mkdirSync(dirname(path), { recursive: true });
    closeSync(openSync(path, 'a'));
    const output = new LogOutput(() => pino.destination({ dest: path, sync: false, mkdir: true, maxLength: LOG_BACKLOG }), path);
    // nothing is written, and no exit can flush, before the file is open
    await once(output.destination, 'ready');
    return output;
  }

  /**
   * Opens the file at its path again, as logrotate's `create` needs: the lines not yet written go to
   * the new file. If it cannot be opened, writing goes on to the file already open, and `then` is
   * given why.
   */
  reopen(then: (err: Error | undefined) => void): void {
    const onReady = (): void => {
      this.destination.off('error', onError);
      then(undefined);
    };
    const onError = (err: Error): void => {
      this.destination.off('ready', onReady);
      then(err);
    };
    this.destination.once('ready', onReady);
    this.destination.once('error', onError);
    this.destination.reopen();
  }

  /**
   * Resolves once every line handed over is written (or dropped), at once when the output is
   * failing: pino's own exit hook writes what is left synchronously, but not a write still under
   * way, which an exit would lose or put after the lines written past it.
   */
  written(): Promise<void> {
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(limit);
        this.destination.off('write', check).off('drop', check).off('error', check);
        resolve();
      };
      // listeners added after the constructor's: the counts and the failing flag are already up to date
      const check = (): void => {
        if (this.done >= this.handed || this.failing) finish();
      };
      const limit = setTimeout(finish, EXIT_FLUSH_LIMIT_MS);
      this.destination.on('write', check).on('drop', check).on('error', check);
      check();
    });
  }
}
