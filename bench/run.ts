// `npm run bench`: the same scenarios against Ferry and against ActiveMQ, one broker at a time.

import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ACTIVEMQ_INSTALL_HINT, DEFAULT_ACTIVEMQ_HOME, activeMqInstalled, startActiveMq } from './activemq.js';
import type { BrokerName, RunningBroker } from './broker.js';
import { stopAll, wasInterrupted } from './children.js';
import { startFerry } from './ferry.js';
import { formatResults, writeResults } from './report.js';
import { emptyResult, runScenario } from './runner.js';
import type { RunOptions, ScenarioResult } from './runner.js';
import { SCENARIOS, findScenario } from './scenarios.js';
import type { Scenario } from './scenarios.js';

const USAGE = `usage: npm run bench -- [options]

  --broker ferry|activemq|both   brokers to run (default both, Ferry first)
  --scenario NAME[,NAME]         scenarios to run, repeatable (default all): ${SCENARIOS.map((s) => s.name).join(', ')}
  --duration SECONDS             measured window per scenario (default 10)
  --warmup SECONDS               warm-up before each measured window (default 3)
  --window N                     most messages in flight, sent but not received (default 5000)
  --receipt-window N             most unconfirmed sends when a scenario confirms them (default 100)
  --drain-timeout SECONDS        wait for the last messages before counting them lost (default 15)
  --ferry-main FILE              Ferry's CLI entry point (default dist/src/cli/main.js of this build)
  --activemq-home DIR            ActiveMQ 5.x installation (default ${DEFAULT_ACTIVEMQ_HOME})
  --results DIR                  folder for the JSON results (default bench/results)
  --keep                         keep the brokers' temporary folders (logs, data)
  --list                         list the scenarios and exit
`;

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

class UsageError extends Error {}

function positive(name: string, text: string | undefined, fallback: number, integer: boolean): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, not ${JSON.stringify(text)}`);
  }
  return value;
}

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      broker: { type: 'string', default: 'both' },
      scenario: { type: 'string', multiple: true },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      window: { type: 'string' },
      'receipt-window': { type: 'string' },
      'drain-timeout': { type: 'string' },
      'activemq-home': { type: 'string', default: DEFAULT_ACTIVEMQ_HOME },
      'ferry-main': { type: 'string' },
      results: { type: 'string', default: RESULTS_DIR },
      keep: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const brokers: BrokerName[] =
    values.broker === 'both' ? ['ferry', 'activemq'] : values.broker === 'ferry' || values.broker === 'activemq' ? [values.broker] : [];
  if (brokers.length === 0) throw new UsageError(`--broker must be ferry, activemq or both, not ${JSON.stringify(values.broker)}`);
  const names = (values.scenario ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  const scenarios: Scenario[] = [];
  for (const name of names) {
    const scenario = findScenario(name);
    if (scenario === undefined && name.startsWith('scheduled')) {
      throw new UsageError(`${name} is not a scenario: scheduled delivery is measured, on Ferry alone, by \`node dist/bench/scheduled.js\``);
    }
    if (scenario === undefined) throw new UsageError(`unknown scenario ${JSON.stringify(name)}; --list shows them`);
    if (!scenarios.includes(scenario)) scenarios.push(scenario);
  }
  const run: RunOptions = {
    durationSeconds: positive('duration', values.duration, 10, false),
    warmupSeconds: positive('warmup', values.warmup, 3, false),
    window: positive('window', values.window, 5000, true),
    confirmWindow: positive('receipt-window', values['receipt-window'], 100, true),
    drainTimeoutMs: positive('drain-timeout', values['drain-timeout'], 15, false) * 1000,
  };
  return {
    brokers,
    scenarios: scenarios.length > 0 ? scenarios : [...SCENARIOS],
    run,
    activeMqHome: values['activemq-home'],
    ferryMain: values['ferry-main'],
    resultsDir: values.results,
    keep: values.keep,
    list: values.list,
    help: values.help,
  };
}

function start(name: BrokerName, args: ReturnType<typeof parse>): Promise<RunningBroker> {
  if (name === 'activemq') return startActiveMq({ home: args.activeMqHome, keepFolder: args.keep });
  return startFerry({ keepFolder: args.keep, ...(args.ferryMain === undefined ? {} : { main: path.resolve(args.ferryMain) }) });
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(24)} ${s.summary}\n`);
    return 0;
  }
  if (args.brokers.includes('activemq') && !activeMqInstalled(args.activeMqHome)) {
    process.stderr.write(`${ACTIVEMQ_INSTALL_HINT}\n`);
    return 1;
  }

  const startedAt = new Date();
  const runTag = randomBytes(3).toString('hex');
  const results: ScenarioResult[] = [];
  process.stdout.write(
    `scenarios: ${args.scenarios.map((s) => s.name).join(', ')}; ${args.run.warmupSeconds} s warm-up + ` +
      `${args.run.durationSeconds} s measured each; window ${args.run.window}\n`,
  );
  for (const name of args.brokers) {
    if (wasInterrupted()) break;
    process.stdout.write(`starting ${name}... `);
    const began = Date.now();
    let broker: RunningBroker;
    try {
      broker = await start(name, args);
    } catch (err) {
      process.stdout.write('failed\n');
      process.stderr.write(`${(err as Error).message}\n`);
      for (const s of args.scenarios) {
        results.push({ ...emptyResult(s.name, name), error: `${name} did not start` });
      }
      continue;
    }
    process.stdout.write(`pid ${broker.pid}, STOMP on ${broker.stompPort} (${((Date.now() - began) / 1000).toFixed(1)} s)\n`);
    try {
      for (const scenario of args.scenarios) {
        if (wasInterrupted()) break;
        // ActiveMQ's Debian build has no AMQP connector: its AMQP rows are Ferry's alone
        if (scenario.protocol !== 'stomp' && broker.ports?.[scenario.protocol] === undefined) {
          process.stdout.write(`  ${scenario.name} on ${name}: skipped, no ${scenario.protocol} listener\n`);
          continue;
        }
        process.stdout.write(`  ${scenario.name} on ${name}... `);
        const result = await runScenario(broker, scenario, args.run, runTag);
        if (wasInterrupted()) break;
        results.push(result);
        process.stdout.write(
          result.error !== undefined
            ? `failed: ${result.error}\n`
            : `${Math.round(result.deliveriesPerSecond).toLocaleString('en-US')}/s, lost ${result.lost}\n`,
        );
        if (broker.exited()) break;
      }
    } finally {
      await broker.stop();
      if (args.keep) process.stdout.write(`  ${name} log: ${broker.logFile}\n`);
    }
  }

  if (wasInterrupted()) return 130;
  process.stdout.write(`\n${formatResults(results, args.scenarios)}\n`);
  const file = writeResults(args.resultsDir, startedAt, { brokers: args.brokers, ...args.run }, args.scenarios, results);
  process.stdout.write(`\nresults: ${file}\n`);
  return results.some((r) => r.error !== undefined) ? 1 : 0;
}

main().then(
  async (code) => {
    await stopAll();
    process.exit(code);
  },
  async (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await stopAll();
    process.exit(1);
  },
);
