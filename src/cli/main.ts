#!/usr/bin/env node
// first: `ferry start` answers a signal from here on, not with Node's default (see the module)
import { heldForTest } from './early-signals.js';
import { isFerryError } from '../errors.js';
import { tuneHeap } from './heap-tuning.js';
import { didNotGetThrough } from './unreachable.js';

type Run = (argv: string[]) => Promise<number>;

/**
 * Each command's module is loaded when the command runs: the broker behind `start` takes most of a
 * second to load, which an operator's `ferry dstat` or a script calling it in a loop should not pay.
 */
const commands: Record<string, () => Promise<{ run: Run; help: string }>> = {
  start: async () => {
    tuneHeap();
    await heldForTest();
    const m = await import('./start.js');
    // start keeps running until a signal: -1 leaves the exit status alone
    return { run: async (argv) => (await m.start(argv), -1), help: m.startHelp };
  },
  send: async () => {
    const m = await import('./tools.js');
    return { run: m.send, help: m.sendHelp };
  },
  receive: async () => {
    const m = await import('./tools.js');
    return { run: m.receive, help: m.receiveHelp };
  },
  browse: async () => {
    const [api, admin] = await Promise.all([import('./operate.js'), import('./admin.js')]);
    // the older form browses over STOMP; an option only it has (the STOMP port, headers, a timeout) asks for it
    const run: Run = (argv) => (argv.some((a) => /^(--port|--headers|--timeout|-t)(=|$)/.test(a)) ? admin.stompBrowse(argv) : api.browse(argv));
    return { run, help: `${api.browseApiHelp}\n${admin.stompBrowseHelp}` };
  },
  stat: async () => {
    const m = await import('./admin.js');
    return { run: m.stat, help: m.statHelp };
  },
  store: async () => {
    const m = await import('./admin.js');
    return { run: m.store, help: m.storeHelp };
  },
  purge: async () => {
    const m = await import('./operate.js');
    return { run: m.purge, help: m.purgeHelp };
  },
  pause: async () => {
    const m = await import('./operate.js');
    return { run: m.pause, help: m.pauseHelp };
  },
  resume: async () => {
    const m = await import('./operate.js');
    return { run: m.resume, help: m.pauseHelp };
  },
  user: async () => {
    const m = await import('./user.js');
    return { run: m.user, help: m.userHelp };
  },
  passwd: async () => {
    const m = await import('./user.js');
    return { run: m.passwd, help: m.passwdHelp };
  },
  dstat: async () => {
    const m = await import('./operate.js');
    return { run: m.dstat, help: m.dstatHelp };
  },
  move: async () => {
    const m = await import('./operate.js');
    return { run: m.move, help: m.moveHelp };
  },
  copy: async () => {
    const m = await import('./operate.js');
    return { run: m.copy, help: m.moveHelp };
  },
  'retry-dlq': async () => {
    const m = await import('./operate.js');
    return { run: m.retryDlq, help: m.retryHelp };
  },
  export: async () => {
    const m = await import('./message-lines.js');
    return { run: m.exportMessages, help: m.exportHelp };
  },
  import: async () => {
    const m = await import('./message-lines.js');
    return { run: m.importMessages, help: m.importHelp };
  },
  connections: async () => {
    const m = await import('./operate.js');
    return { run: m.connections, help: m.connectionsHelp };
  },
  sessions: async () => {
    const m = await import('./operate.js');
    return { run: m.sessions, help: m.sessionsHelp };
  },
  consumers: async () => {
    const m = await import('./operate.js');
    return { run: m.consumers, help: m.consumersHelp };
  },
  'close-connection': async () => {
    const m = await import('./operate.js');
    return { run: m.closeConnection, help: m.closeConnectionHelp };
  },
  bench: async () => {
    const m = await import('./bench/index.js');
    return { run: m.bench, help: m.benchHelp };
  },
};

const usage = `Usage: ferry <command> [options]

Commands:
  start     start the broker
  send      send messages to a destination over STOMP
  receive   receive messages from a destination over STOMP
  browse    show the messages waiting in a queue, without consuming them
  stat      show queues, topics and durable subscriptions with their counts
  purge     drop the messages waiting in a queue
  store     explain the disk: journal files and what keeps each of them
  user      manage the users file: add, passwd, groups, remove, list, token
  passwd    change a user's password in the users file (ferry user passwd)

Operating a running broker (through its management API):
  dstat             the destinations table: depth, in flight, enqueued, dequeued, consumers, paused
  pause, resume     hold a queue's deliveries to its consumers, and let them go again
  move, copy        move or copy a queue's messages to another destination
  retry-dlq         send dead letters back to where they came from
  export, import    a queue's messages to JSON lines, and JSON lines to a destination
  connections       the clients connected, with rates
  sessions          the clients' sessions, with rates
  consumers         the consumers, of every destination or one: prefetch, in flight, rates
  close-connection  close one client's connection
  bench             producers and consumers over STOMP, MQTT or AMQP 1.0: rates and latency

Run "ferry <command> --help" for a command's options.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    const topic = command === undefined ? undefined : commands[rest[0] ?? ''];
    process.stdout.write(topic === undefined ? usage : (await topic()).help);
    return command === undefined ? 1 : 0;
  }
  const load = commands[command];
  if (load === undefined) {
    process.stderr.write(`ferry: FERRY_CLI_USAGE: unknown command "${command}"\n\n${usage}`);
    return 1;
  }
  return (await load()).run(rest);
}

// a reader that stops early (`ferry receive ... | head`) ends the command, without a stack trace
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') process.stderr.write(`ferry: standard output: ${err.message}\n`);
  process.exit(err.code === 'EPIPE' ? 0 : 1);
});

main(process.argv.slice(2)).then(
  (code) => {
    // start keeps running until a signal; the tools exit with their status
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    // a configuration mistake names the option or key at fault; any other refusal says its code too
    // parseArgs' own mistakes (an unknown option, a missing value) are usage errors like the tools' own
    const parseArgsError = err instanceof Error && String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
    const message = isFerryError(err) ? (err.code.startsWith('FERRY_CONFIG') ? err.message : `${err.code}: ${err.message}`) : parseArgsError ? `FERRY_CLI_USAGE: ${err.message}` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`ferry: ${message}\n`);
    process.exitCode = isFerryError(err) && err.code.startsWith('FERRY_CONFIG') ? 78 : didNotGetThrough(err) ? 2 : 1;
  },
);
