import { readdirSync, readFileSync } from 'node:fs';
import type { Logger } from '../core/index.js';

/** The process's limit on open files, soft and hard, as /proc reads it (undefined off Linux). */
export function descriptorLimits(pid: number | 'self' = 'self'): { soft: number; hard: number } | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line ?? '').split(/\s{2,}/).slice(1, 3).map((v) => (v === 'unlimited' ? Number.POSITIVE_INFINITY : Number(v)));
    return soft !== undefined && hard !== undefined && Number.isFinite(soft) ? { soft, hard } : undefined;
  } catch {
    return undefined;
  }
}

/** Descriptors this process has open now: a directory read, for start-up and tests, not per connection. */
export function openDescriptors(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

/**
 * The open-file limit client connections and the broker share. Node raises its soft limit to the
 * hard one as it starts (a shell's default of 1,024 would stop a broker long before its memory
 * does), so what is in force here is the hard limit the broker was started under: it is logged,
 * with a warning when it is too low for a server.
 */
export function descriptorLimit(logger: Logger): number {
  const limits = descriptorLimits();
  if (limits === undefined) return Number.POSITIVE_INFINITY;
  const fields = { event: 'descriptors.limit', soft: limits.soft, hard: limits.hard };
  if (limits.soft < LOW_LIMIT) logger.warn(fields, `the open-file limit is ${limits.soft}: raise the hard limit (ulimit -Hn, LimitNOFILE= in a systemd unit) to serve more than a few hundred clients`);
  else logger.info(fields, `open-file limit ${limits.soft}`);
  return limits.soft;
}

/** Under this many open files a broker serves only a few hundred clients after its reserve. */
const LOW_LIMIT = 4096;

/**
 * The descriptors client connections may use: the limit less what the broker had open when its
 * listeners started and a reserve kept free for what it opens later (journal segments, compaction,
 * the management port, network links). Every listener takes from one budget, so a flood of
 * connections on any port leaves the journal able to open its next file.
 */
export class DescriptorBudget {
  private inUse = 0;
  private refusedSince = 0;

  constructor(
    private readonly limit: number,
    /** Descriptors open before the first client. */
    private readonly baseline: number,
    /** transport.descriptorReserve. */
    readonly reserve: number,
    private readonly logger: Logger,
  ) {}

  /** Client connections the budget allows at once. */
  get capacity(): number {
    return Math.max(0, this.limit - this.baseline - this.reserve);
  }

  get connections(): number {
    return this.inUse;
  }

  /**
   * Counts `socket` in until it closes, or destroys it at once when the budget is spent: the
   * client sees its connection close before any protocol speaks, as with a listener's maxConnections.
   */
  admit(socket: { destroy(): void; on(event: 'close', listener: () => void): unknown; remoteAddress?: string | undefined }, listener: string): boolean {
    if (this.inUse >= this.capacity) {
      // one line per burst, not one per refused socket
      if (this.refusedSince++ === 0) {
        this.logger.warn({ event: 'listener.descriptors-reserved', listener, remote: socket.remoteAddress, limit: this.limit, reserve: this.reserve, connections: this.inUse }, `${listener}: connection refused, the open-file limit (${this.limit}) is near and ${this.reserve} descriptors are kept for the broker`);
      }
      socket.destroy();
      return false;
    }
    this.inUse++;
    // `on`, not `once`: a socket closes once, and once's wrapper cost every connection about 200 bytes
    socket.on('close', this.released);
    return true;
  }

  private readonly released = (): void => {
    this.inUse--;
    if (this.refusedSince > 0 && this.inUse < this.capacity) {
      this.logger.info({ event: 'listener.descriptors-available', refused: this.refusedSince }, `connections accepted again after ${this.refusedSince} were refused for the open-file limit`);
      this.refusedSince = 0;
    }
  };
}
