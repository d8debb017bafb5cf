#!/usr/bin/env node
import { isFerryError } from '../errors.js';
import { browse, browseHelp, purge, purgeHelp, stat, statHelp, store, storeHelp } from './admin.js';
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
      return browse(rest);
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
      const helps: Record<string, string> = { start: startHelp, send: sendHelp, receive: receiveHelp, browse: browseHelp, stat: statHelp, purge: purgeHelp, store: storeHelp, user: userHelp, passwd: passwdHelp };
      process.stdout.write(helps[topic ?? ''] ?? usage);
      return command === undefined ? 2 : 0;
    }
    default:
      process.stderr.write(`ferry: unknown command "${command}"\n\n${usage}`);
      return 2;
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
