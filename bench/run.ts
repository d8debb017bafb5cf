// `npm run bench`: the same scenarios against Ferry, Mosquitto (MQTT only), ActiveMQ (STOMP, MQTT) and
// RabbitMQ (AMQP 1.0), one broker at a time.

import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UsageError, positive } from './args.js';
import { ACTIVEMQ_INSTALL_HINT, ACTIVEMQ_TLS_TRANSPORTS, DEFAULT_ACTIVEMQ_HOME, MQTT_CLIENT_INSTALL_HINT, MQTT_CLIENT_JAR, activeMqInstalled, startActiveMq } from './activemq.js';
import { existsSync } from 'node:fs';
import { portFor } from './broker.js';
import type { BrokerName, RunningBroker } from './broker.js';
import { stopAll, wasInterrupted } from './children.js';
import { startFerry } from './ferry.js';
import { DEFAULT_MOSQUITTO, MOSQUITTO_INSTALL_HINT, mosquittoInstalled, startMosquitto } from './mosquitto.js';
import { DEFAULT_RABBITMQ_SERVER, RABBITMQ_INSTALL_HINT, rabbitMqInstalled, startRabbitMq } from './rabbitmq.js';
import { runIdle } from './mqtt-idle.js';
import { formatResults, writeResults } from './report.js';
import { emptyResult, runScenario } from './runner.js';
import type { RunOptions, ScenarioResult } from './runner.js';
import { SCENARIOS, findScenario, scenarioBrokers } from './scenarios.js';
import type { Scenario } from './scenarios.js';
import { makeSecureSetup } from './secure.js';
import type { SecureSetup } from './secure.js';

const USAGE = `usage: npm run bench -- [options]

  --broker NAME[,NAME]           ferry, mosquitto, activemq, rabbitmq, both (ferry,activemq) or all (default):
                                 brokers to run, in that order; each runs only the scenarios of the protocols it
                                 serves (Mosquitto: MQTT; ActiveMQ: STOMP, MQTT; RabbitMQ: AMQP 1.0 with rhea, AMQP 0-9-1)
                                 and is not started for none
  --scenario NAME[,NAME]         scenarios to run, repeatable (default all): ${SCENARIOS.map((s) => s.name).join(', ')}
  --duration SECONDS             measured window per scenario (default 10)
  --warmup SECONDS               warm-up before each measured window (default 3)
  --window N                     most messages in flight, sent but not received (default 5000)
  --receipt-window N             most unconfirmed sends when a scenario confirms them (default 100)
  --drain-timeout SECONDS        wait for the last messages before counting them lost (default 15)
  --ferry-main FILE              Ferry's CLI entry point (default dist/src/cli/main.js of this build)
  --ferry-node-args=ARGS         options for Ferry's Node, space-separated (e.g. --ferry-node-args="--trace-gc --max-semi-space-size=16")
  --activemq-home DIR            ActiveMQ 5.x installation (default ${DEFAULT_ACTIVEMQ_HOME})
  --activemq-tls ssl|nio+ssl     ActiveMQ's TLS connectors for the secure scenarios: stomp+ssl and mqtt+ssl
                                 (default), or stomp+nio+ssl and mqtt+nio+ssl
  --mosquitto FILE               Mosquitto's executable (default ${DEFAULT_MOSQUITTO})
  --rabbitmq FILE                RabbitMQ's start script (default ${DEFAULT_RABBITMQ_SERVER})
  --results DIR                  folder for the JSON results (default bench/results)
  --keep                         keep the brokers' temporary folders (logs, data)
  --list                         list the scenarios and exit
`;

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      broker: { type: 'string', default: 'all' },
      scenario: { type: 'string', multiple: true },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      window: { type: 'string' },
      'receipt-window': { type: 'string' },
      'drain-timeout': { type: 'string' },
      'activemq-home': { type: 'string', default: DEFAULT_ACTIVEMQ_HOME },
      'activemq-tls': { type: 'string', default: 'ssl' },
      'ferry-main': { type: 'string' },
      'ferry-node-args': { type: 'string' },
      mosquitto: { type: 'string', default: DEFAULT_MOSQUITTO },
      rabbitmq: { type: 'string', default: DEFAULT_RABBITMQ_SERVER },
      results: { type: 'string', default: RESULTS_DIR },
      keep: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const ALL: BrokerName[] = ['ferry', 'mosquitto', 'activemq', 'rabbitmq'];
  const asked = new Set<string>();
  for (const word of values.broker.split(',').map((w) => w.trim()).filter((w) => w !== '')) {
    if (word === 'all') ALL.forEach((b) => asked.add(b));
    else if (word === 'both') ['ferry', 'activemq'].forEach((b) => asked.add(b));
    else if ((ALL as string[]).includes(word)) asked.add(word);
    else throw new UsageError(`--broker takes ferry, mosquitto, activemq, rabbitmq, both or all, not ${JSON.stringify(word)}`);
  }
  if (asked.size === 0) throw new UsageError('--broker names no broker');
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
  const activeMqTls = ACTIVEMQ_TLS_TRANSPORTS.find((t) => t === values['activemq-tls']);
  if (activeMqTls === undefined) throw new UsageError(`--activemq-tls takes ${ACTIVEMQ_TLS_TRANSPORTS.join(' or ')}`);
  const run: RunOptions = {
    durationSeconds: positive('duration', values.duration, 10, false),
    warmupSeconds: positive('warmup', values.warmup, 3, false),
    window: positive('window', values.window, 5000, true),
    confirmWindow: positive('receipt-window', values['receipt-window'], 100, true),
    drainTimeoutMs: positive('drain-timeout', values['drain-timeout'], 15, false) * 1000,
  };
  const chosen = scenarios.length > 0 ? scenarios : [...SCENARIOS];
  // a broker that serves none of the chosen scenarios' protocols is not started
  const brokers = ALL.filter((b) => asked.has(b) && chosen.some((s) => scenarioBrokers(s).includes(b)));
  if (brokers.length === 0) throw new UsageError('none of the chosen brokers serves the chosen scenarios');
  return {
    brokers,
    scenarios: chosen,
    mosquitto: values.mosquitto,
    rabbitmq: values.rabbitmq,
    run,
    activeMqHome: values['activemq-home'],
    activeMqTls,
    ferryMain: values['ferry-main'],
    ferryNodeArgs: (values['ferry-node-args'] ?? '').split(' ').filter((a) => a !== ''),
    resultsDir: values.results,
    keep: values.keep,
    list: values.list,
    help: values.help,
  };
}

/** Starts a broker; with `secure`, with TLS listeners, one user and authorization rules (secure.ts). */
function start(name: BrokerName, args: ReturnType<typeof parse>, secure?: SecureSetup): Promise<RunningBroker> {
  if (secure !== undefined && name !== 'ferry' && name !== 'activemq') {
    throw new Error(`the secure scenarios run on Ferry and ActiveMQ, not ${name}`);
  }
  const client = secure === undefined ? undefined : { ca: secure.ca, user: secure.user, password: secure.password };
  if (name === 'mosquitto') return startMosquitto({ executable: args.mosquitto, keepFolder: args.keep });
  if (name === 'activemq') {
    return startActiveMq({
      home: args.activeMqHome,
      keepFolder: args.keep,
      ...(secure === undefined || client === undefined
        ? {}
        : {
            secure: {
              keyStore: secure.keyStore,
              keyStorePassword: secure.keyStorePassword,
              group: secure.group,
              client,
              transport: args.activeMqTls,
            },
          }),
    });
  }
  if (name === 'rabbitmq') return startRabbitMq({ server: args.rabbitmq, keepFolder: args.keep });
  return startFerry({
    keepFolder: args.keep,
    nodeArgs: args.ferryNodeArgs,
    ...(args.ferryMain === undefined ? {} : { main: path.resolve(args.ferryMain) }),
    ...(secure === undefined || client === undefined ? {} : { secure: { config: secure.ferryConfig, client } }),
  });
}

/**
 * Each broker's scenarios in two groups, each on a broker started for it: the plain ones on a broker
 * as it is by default (no users, no TLS), the secure ones on a broker with TLS, a user and
 * authorization rules, so that a plain scenario measures exactly what it measured before.
 */
function startsFor(name: BrokerName, scenarios: readonly Scenario[]): { secure: boolean; scenarios: Scenario[] }[] {
  const mine = scenarios.filter((s) => scenarioBrokers(s).includes(name));
  return [false, true]
    .map((secure) => ({ secure, scenarios: mine.filter((s) => (s.secureOf !== undefined) === secure) }))
    .filter((group) => group.scenarios.length > 0);
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
  if (args.brokers.includes('mosquitto') && !mosquittoInstalled(args.mosquitto)) {
    process.stderr.write(`${MOSQUITTO_INSTALL_HINT}\n`);
    return 1;
  }
  if (args.brokers.includes('rabbitmq') && !rabbitMqInstalled(args.rabbitmq)) {
    process.stderr.write(`${RABBITMQ_INSTALL_HINT}\n`);
    return 1;
  }
  if (args.brokers.includes('activemq') && args.scenarios.some((s) => s.protocol === 'mqtt') && !existsSync(MQTT_CLIENT_JAR)) {
    process.stderr.write(`${MQTT_CLIENT_INSTALL_HINT}\n`);
    return 1;
  }

  const startedAt = new Date();
  const runTag = randomBytes(3).toString('hex');
  const results: ScenarioResult[] = [];
  process.stdout.write(
    `scenarios: ${args.scenarios.map((s) => s.name).join(', ')}; ${args.run.warmupSeconds} s warm-up + ` +
      `${args.run.durationSeconds} s measured each; window ${args.run.window}\n`,
  );
  let secureSetup: SecureSetup | undefined;
  if (args.scenarios.some((s) => s.secureOf !== undefined)) {
    secureSetup = await makeSecureSetup();
    if (args.keep) process.stdout.write(`certificates, users and Ferry's configuration in ${secureSetup.folder}\n`);
  }
  try {
    for (const name of args.brokers) {
      for (const group of startsFor(name, args.scenarios)) {
        if (wasInterrupted()) break;
        await runOn(name, group.scenarios, group.secure ? secureSetup : undefined, args, runTag, results);
      }
    }
  } finally {
    if (!args.keep) secureSetup?.remove();
  }

  if (wasInterrupted()) return 130;
  process.stdout.write(`\n${formatResults(results, args.scenarios)}\n`);
  const file = writeResults(args.resultsDir, startedAt, { brokers: args.brokers, activeMqTls: args.activeMqTls, ...args.run }, args.scenarios, results);
  process.stdout.write(`\nresults: ${file}\n`);
  return results.some((r) => r.error !== undefined) ? 1 : 0;
}

/** Starts one broker, runs `scenarios` against it, stops it; a result for each scenario goes to `results`. */
async function runOn(
  name: BrokerName,
  scenarios: readonly Scenario[],
  secure: SecureSetup | undefined,
  args: ReturnType<typeof parse>,
  runTag: string,
  results: ScenarioResult[],
): Promise<void> {
  process.stdout.write(`starting ${name}${secure === undefined ? '' : ' (TLS, users, authorization)'}... `);
  const began = Date.now();
  let broker: RunningBroker;
  try {
    broker = await start(name, args, secure);
  } catch (err) {
    process.stdout.write('failed\n');
    process.stderr.write(`${(err as Error).message}\n`);
    for (const s of scenarios) {
      results.push({ ...emptyResult(s.name, name), error: `${name} did not start` });
    }
    return;
  }
  const listening = [
    ...(broker.stompPort === undefined ? [] : [`STOMP on ${broker.stompPort}`]),
    ...Object.entries(broker.ports ?? {}).filter(([protocol]) => protocol !== 'stomp').map(([protocol, port]) => `${protocol.toUpperCase()} on ${port}`),
  ];
  process.stdout.write(`pid ${broker.pid}, ${listening.join(', ')} (${((Date.now() - began) / 1000).toFixed(1)} s)\n`);
  try {
    for (const scenario of scenarios) {
      if (wasInterrupted()) break;
      const listener = scenario.secureOf === undefined ? scenario.protocol : `${scenario.protocol}-tls`;
      if (portFor(broker, listener) === undefined) {
        process.stdout.write(`  ${scenario.name} on ${name}: skipped, no ${listener} listener\n`);
        continue;
      }
      process.stdout.write(`  ${scenario.name} on ${name}... `);
      const result =
        scenario.idleConnections !== undefined ? await runIdle(broker, scenario) : await runScenario(broker, scenario, args.run, runTag);
      if (wasInterrupted()) break;
      results.push(result);
      process.stdout.write(
        result.error !== undefined
          ? `failed: ${result.error}\n`
          : result.idle !== undefined
            ? `${Math.round(result.idle.connectsPerSecond).toLocaleString('en-US')} connects/s, ${(result.idle.bytesPerConnection / 1024).toFixed(2)} KiB/conn at 2 s, ${(result.idle.idleBytesPerConnection / 1024).toFixed(2)} at 32 s\n`
            : `${Math.round(result.deliveriesPerSecond).toLocaleString('en-US')}/s, lost ${result.lost}\n`,
      );
      if (broker.exited()) break;
    }
  } finally {
    await broker.stop();
    if (args.keep) process.stdout.write(`  ${name} log: ${broker.logFile}\n`);
  }
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
