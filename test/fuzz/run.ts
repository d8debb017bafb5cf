import fc from 'fast-check';
import { describeCase, fuzzCases, type FuzzCase } from './mutate.js';
import type { FuzzTarget } from './target.js';
import { runCase, type Outcome, type WireOptions } from './wire.js';

export interface FuzzRunOptions extends WireOptions {
  /** fast-check's seed: the same seed gives the same cases. */
  readonly seed: number;
  /** Stop after this many cases... */
  readonly cases: number;
  /** ...or once this many frames have been sent, whichever comes first. */
  readonly frames?: number;
  /** Cases in flight at once, each on its own connection. */
  readonly concurrency: number;
  /** The most frames in one case. */
  readonly framesPerCase: number;
  /** Run only the case with this index (as a failure names it), to replay it. */
  readonly only?: number;
  /** Called now and then with the counts so far. */
  readonly onProgress?: (report: FuzzReport) => void;
}

export interface FuzzFailure {
  readonly index: number;
  readonly description: string;
  readonly problems: readonly string[];
}

export interface FuzzReport {
  readonly target: string;
  readonly seed: number;
  cases: number;
  frames: number;
  bytes: number;
  readonly outcomes: Record<Outcome, number>;
  /** Each error the broker answered with (code, condition, reason), and how often. */
  readonly errors: Map<string, number>;
  readonly failures: FuzzFailure[];
  elapsedMs: number;
}

/** Cases are drawn in blocks of this many from one seed, so a long run never holds them all. */
const BLOCK = 1000;

/**
 * Sends fast-check's cases for `target` to the broker, `concurrency` connections at a time, and
 * counts how each ended. Case `i` is the `i % BLOCK`th of the block drawn with seed `seed + i / BLOCK`,
 * so any case can be drawn again alone.
 */
export async function fuzz(target: FuzzTarget, options: FuzzRunOptions): Promise<FuzzReport> {
  const report: FuzzReport = {
    target: target.name,
    seed: options.seed,
    cases: 0,
    frames: 0,
    bytes: 0,
    outcomes: { accepted: 0, refused: 0, closed: 0, incomplete: 0 },
    errors: new Map(),
    failures: [],
    elapsedMs: 0,
  };
  const arbitrary = fuzzCases(target.handshake.length, target.seeds.length, options.framesPerCase);
  let block: FuzzCase[] = [];
  let blockIndex = -1;
  const caseAt = (i: number): FuzzCase => {
    const b = Math.floor(i / BLOCK);
    if (b !== blockIndex) {
      block = fc.sample(arbitrary, { seed: options.seed + b, numRuns: BLOCK });
      blockIndex = b;
    }
    return block[i % BLOCK]!;
  };
  const started = Date.now();
  let next = options.only ?? 0;
  const last = options.only ?? options.cases - 1;
  let lastProgress = started;
  const worker = async (): Promise<void> => {
    while (next <= last && (options.frames === undefined || report.frames < options.frames)) {
      const index = next++;
      const c = caseAt(index);
      const result = await runCase(target, c, options);
      report.cases++;
      report.frames += result.frames;
      report.bytes += result.bytes.length;
      report.outcomes[result.outcome]++;
      for (const error of new Set(result.reply.errors)) report.errors.set(error, (report.errors.get(error) ?? 0) + 1);
      if (result.problems.length > 0) report.failures.push({ index, description: describeCase(c, result.bytes), problems: result.problems });
      if (options.onProgress !== undefined && Date.now() - lastProgress > 5000) {
        lastProgress = Date.now();
        report.elapsedMs = lastProgress - started;
        options.onProgress(report);
      }
    }
  };
  await Promise.all(Array.from({ length: options.only === undefined ? options.concurrency : 1 }, worker));
  report.elapsedMs = Date.now() - started;
  return report;
}

/** One line per report: counts of each outcome and of each error seen. */
export function summarise(report: FuzzReport): string {
  const o = report.outcomes;
  const rate = Math.round(report.frames / Math.max(0.001, report.elapsedMs / 1000));
  const errors = [...report.errors].sort((a, b) => b[1] - a[1]).map(([e, n]) => `${e} x${n}`).join(', ');
  return `${report.target}: seed ${report.seed}, ${report.cases} cases, ${report.frames} frames in ${(report.elapsedMs / 1000).toFixed(1)} s (${rate} frames/s); accepted ${o.accepted}, refused ${o.refused}, closed ${o.closed}, incomplete ${o.incomplete}; errors: ${errors || 'none'}`;
}
