// What an idle TCP connection costs a Node.js process that does nothing with it: the floor under
// any Node broker's memory per connection, measured as `mqtt-idle-2k-cold` measures Ferry. A fresh
// process accepts `--connections` sockets (64 handshakes at a time, each client sending an MQTT
// CONNECT that the server reads and drops) and reports (VmRSS 2 s after the last connect − VmRSS
// before the first) ÷ the connections.

import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { commandLine, positive } from './args.js';

const USAGE = `usage: npm run build && node dist/bench/socket-floor.js [--connections 2000] [--node-args="--max-semi-space-size=1"]`;

const CONNECT = Buffer.from([0x10, 0x0c, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, 0]);

function rssKiB(): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
}

function serve(): void {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.setNoDelay(true);
    socket.on('data', () => {});
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port, rss: rssKiB() }));
  process.on('message', () => process.send!({ rss: rssKiB(), connections: sockets.length }));
}

async function drive(): Promise<void> {
  const { count, nodeArgs } = commandLine(USAGE, { connections: { type: 'string' }, 'node-args': { type: 'string' } }, (values) => ({
    count: positive('connections', values.connections, 2000, true),
    nodeArgs: values['node-args']?.split(' ').filter((a) => a !== '') ?? [],
  }));
  const server = fork(fileURLToPath(import.meta.url), ['--serve'], { execArgv: nodeArgs });
  const reply = (): Promise<{ port: number; rss: number; connections: number }> => new Promise((resolve) => server.once('message', resolve as (m: unknown) => void));
  const before = await reply();
  const clients: Socket[] = [];
  for (let i = 0; i < count; i += 64) {
    const wave = Array.from({ length: Math.min(64, count - i) }, () => new Promise<void>((resolve, reject) => {
      const client = connect(before.port, '127.0.0.1', () => {
        client.write(CONNECT);
        resolve();
      });
      client.once('error', reject);
      clients.push(client);
    }));
    await Promise.all(wave);
  }
  await new Promise((resolve) => setTimeout(resolve, 2000));
  server.send('rss');
  const after = await reply();
  if (after.connections !== count) throw new Error(`the server holds ${after.connections} connections of ${count}`);
  console.log(`bare Node.js server${nodeArgs.length > 0 ? ` (${nodeArgs.join(' ')})` : ''}: ${((after.rss - before.rss) / count).toFixed(2)} KiB of RSS per idle connection, cold, ${count} connections`);
  for (const client of clients) client.destroy();
  server.kill();
}

if (process.argv.includes('--serve')) serve();
else await drive();
