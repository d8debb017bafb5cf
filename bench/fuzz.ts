// The long fuzz run: the decoders `npm test` fuzzes for a few seconds each (test/fuzz), fed millions
// of mutated frames and random bytes over real sockets, with a well-behaved producer and consumer
// of the same protocol running throughout and every one of their messages counted. It reports
// frames per second, how each case ended, the errors the broker answered with, and the pair's
// counts; it exits non-zero if the broker crashed, logged an error or a stack, mishandled a case,
// or the pair lost a message.

import { commandLine, positive, UsageError } from './args.js';
import { startFuzzBroker } from '../test/fuzz/broker.js';
import { startPair, type PairCounts } from '../test/fuzz/pair.js';
import { fuzz, summarise, type FuzzReport } from '../test/fuzz/run.js';
import { fuzzTargets } from '../test/fuzz/targets.js';

const USAGE = `usage: node dist/bench/fuzz.js [--frames 10000000] [--target stomp,mqtt-5,...] [--seed 1]
                               [--concurrency 64] [--frames-per-case 16] [--quiet-ms 100]`;

interface TargetResult {
  readonly report: FuzzReport;
  readonly pair: PairCounts;
  readonly health: string[];
}

async function main(): Promise<number> {
  const { frames, seed, concurrency, framesPerCase, quietMs, names } = commandLine(USAGE, {
    frames: { type: 'string' },
    target: { type: 'string' },
    seed: { type: 'string' },
    concurrency: { type: 'string' },
    'frames-per-case': { type: 'string' },
    'quiet-ms': { type: 'string' },
  }, (values) => {
    const targets = values.target?.split(',') ?? fuzzTargets.map((t) => t.name);
    const unknown = targets.filter((n) => !fuzzTargets.some((t) => t.name === n));
    if (unknown.length > 0) throw new UsageError(`unknown --target ${unknown.join(', ')}; known: ${fuzzTargets.map((t) => t.name).join(', ')}`);
    return {
      frames: positive('frames', values.frames, 10_000_000, true),
      seed: positive('seed', values.seed, 1, true),
      concurrency: positive('concurrency', values.concurrency, 64, true),
      framesPerCase: positive('frames-per-case', values['frames-per-case'], 16, true),
      quietMs: positive('quiet-ms', values['quiet-ms'], 100, true),
      names: targets,
    };
  });

  // one broker for every target, as in the test: a decoder's bad input must not harm the others
  const broker = await startFuzzBroker();
  const results: TargetResult[] = [];
  let failed = false;
  try {
    for (const target of fuzzTargets.filter((t) => names.includes(t.name))) {
      console.log(`fuzzing ${target.name}: ${frames.toLocaleString('en')} frames, seed ${seed}, ${concurrency} connections at a time`);
      const pair = await startPair(target.pair, broker.ports, target.name, 500);
      const report = await fuzz(target, {
        port: broker.ports[target.listener]!,
        seed,
        cases: Number.MAX_SAFE_INTEGER,
        frames,
        concurrency,
        framesPerCase,
        quietMs,
        answerMs: 10_000,
        onProgress: (r) => {
          // reading the broker's health lets its log lines go as the run goes
          const health = broker.health();
          console.log(`  ${r.frames.toLocaleString('en')} frames, ${r.cases.toLocaleString('en')} cases, ${Math.round(r.frames / (r.elapsedMs / 1000))} frames/s, ${r.failures.length} mishandled${health.length > 0 ? `; broker: ${health[0]}` : ''}`);
        },
      });
      // a case judged under load (a reply later than --quiet-ms) is tried again alone, with time to
      // answer: only what fails again counts as mishandled
      const suspects = report.failures.splice(0);
      for (const suspect of suspects.slice(0, 50)) {
        const alone = await fuzz(target, { port: broker.ports[target.listener]!, seed, cases: Number.MAX_SAFE_INTEGER, concurrency: 1, framesPerCase, quietMs: 2000, answerMs: 10_000, only: suspect.index });
        if (alone.failures.length > 0) report.failures.push(suspect);
      }
      if (suspects.length > 0) console.log(`  ${suspects.length} case(s) judged wrong under load; ${report.failures.length} of ${Math.min(50, suspects.length)} tried again alone still are`);
      const counts = await pair.stop();
      const health = broker.health();
      results.push({ report, pair: counts, health });
      console.log(`  ${summarise(report)}`);
      console.log(`  pair (${counts.protocol}): ${counts.sent} sent, ${counts.confirmed} confirmed, ${counts.received} received, ${counts.lost} lost, ${counts.duplicates} duplicates${counts.errors.length > 0 ? `, errors: ${counts.errors.slice(0, 3).join('; ')}` : ''}`);
      for (const f of report.failures.slice(0, 5)) console.log(`  mishandled case ${f.index}: ${f.problems.join('; ')} (${f.description.slice(0, 300)})`);
      for (const h of health) console.log(`  broker: ${h}`);
      if (health.length > 0 || report.failures.length > 0 || counts.lost > 0 || counts.errors.length > 0 || counts.confirmed === 0) failed = true;
      if (health.some((h) => h.startsWith('the broker exited'))) break;
    }
  } finally {
    await broker.stop();
  }

  console.log('');
  console.log('target       frames       frames/s  cases      accepted  refused  closed  incomplete  mishandled  pair confirmed/received/lost');
  for (const { report: r, pair } of results) {
    const rate = Math.round(r.frames / (r.elapsedMs / 1000));
    const o = r.outcomes;
    console.log(
      `${r.target.padEnd(12)} ${String(r.frames).padStart(10)}  ${String(rate).padStart(8)}  ${String(r.cases).padStart(9)}  ${String(o.accepted).padStart(8)}  ${String(o.refused).padStart(7)}  ${String(o.closed).padStart(6)}  ${String(o.incomplete).padStart(10)}  ${String(r.failures.length).padStart(10)}  ${pair.confirmed}/${pair.received}/${pair.lost}`,
    );
  }
  console.log(failed ? '\nFAILED: see the lines above' : '\nno crash, no error logged, no case mishandled, nothing lost');
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof UsageError ? `fuzz: ${err.message}` : err);
    process.exit(err instanceof UsageError ? 64 : 1);
  },
);
