#!/usr/bin/env node
import { isFerryError } from '../errors.js';
import { stat, statHelp, stompBrowse, stompBrowseHelp, store, storeHelp } from './admin.js';
import { bench, benchHelp } from './bench/index.js';
import { exportHelp, exportMessages, importHelp, importMessages } from './message-lines.js';
import {
  browse,
  browseApiHelp,
  closeConnection,
  closeConnectionHelp,
  connections,
  connectionsHelp,
  copy,
  dstat,
  dstatHelp,
  move,
  moveHelp,
  purge,
  purgeHelp,
  retryDlq,
  retryHelp,
} from './operate.js';
import { start, startHelp } from './start.js';
import { receive, receiveHelp, send, sendHelp } from './tools.js';
import { passwd, passwdHelp, user, userHelp } from './user.js';

const usage = `Usage: ferry <command> [options]

Commands:
  start     start the broker
  send      send messages to a destination over STOMP
  receive   receive messages from a destination over STOMP
  browse    show the messages waiting in a queue, without consuming them
  stat      show queues, topics and durable subscriptions with their counts
  purge     drop the messages waiting in a queue
  store     explain the disk: journal files and what keeps each of them
  user      manage the users file: add, passwd, remove, list, token
  passwd    change a user's password in the users file (ferry user passwd)

Operating a running broker (through its management API):
  dstat             the destinations table: depth, in flight, enqueued, dequeued, consumers
  move, copy        move or copy a queue's messages to another destination
  retry-dlq         send dead letters back to where they came from
  export, import    a queue's messages to JSON lines, and JSON lines to a destination
  connections       the clients connected, with rates
  close-connection  close one client's connection
  bench             producers and consumers over STOMP, MQTT or AMQP 1.0: rates and latency

Run "ferry <command> --help" for a command's options.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      await start(rest);
      return -1;
    case 'send':
      return send(rest);
    case 'receive':
      return receive(rest);
    case 'browse':
      // the older form browses over STOMP; an option only it has (the STOMP port, headers, a timeout) asks for it
      return rest.some((a) => /^(--port|--headers|--timeout|-t)(=|$)/.test(a)) ? stompBrowse(rest) : browse(rest);
    case 'dstat':
      return dstat(rest);
    case 'move':
      return move(rest);
    case 'copy':
      return copy(rest);
    case 'retry-dlq':
      return retryDlq(rest);
    case 'export':
      return exportMessages(rest);
    case 'import':
      return importMessages(rest);
    case 'connections':
      return connections(rest);
    case 'close-connection':
      return closeConnection(rest);
    case 'bench':
      return bench(rest);
    case 'stat':
      return stat(rest);
    case 'purge':
      return purge(rest);
    case 'store':
      return store(rest);
    case 'user':
      return user(rest);
    case 'passwd':
      return passwd(rest);
    case 'help':
    case '--help':
    case '-h':
    case undefined: {
      const topic = rest[0];
      const helps: Record<string, string> = {
        start: startHelp,
        send: sendHelp,
        receive: receiveHelp,
        browse: `${browseApiHelp}\n${stompBrowseHelp}`,
        stat: statHelp,
        purge: purgeHelp,
        store: storeHelp,
        user: userHelp,
        passwd: passwdHelp,
        dstat: dstatHelp,
        move: moveHelp,
        copy: moveHelp,
        'retry-dlq': retryHelp,
        export: exportHelp,
        import: importHelp,
        connections: connectionsHelp,
        'close-connection': closeConnectionHelp,
        bench: benchHelp,
      };
      process.stdout.write(helps[topic ?? ''] ?? usage);
      return command === undefined ? 1 : 0;
    }
    default:
      process.stderr.write(`ferry: FERRY_CLI_USAGE: unknown command "${command}"\n\n${usage}`);
      return 1;
  }
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
    const message = isFerryError(err) ? err.message : err instanceof Error ? err.message : String(err);
    process.stderr.write(`ferry: ${message}\n`);
    process.exitCode = isFerryError(err) && err.code.startsWith('FERRY_CONFIG') ? 78 : 1;
  },
);
