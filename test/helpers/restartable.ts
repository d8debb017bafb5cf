import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { spawnBroker, type BrokerProcess } from './process.js';

/**
 * For a test file that stops and starts brokers on data folders of its own: `folder` makes one,
 * `start` starts a broker on it with every listener on a free port (the default STOMP port may be
 * another test's). When the file's tests end, brokers still running are killed and the folders go.
 */
export function restartableBrokers(): { folder(prefix: string): string; start(data: string): Promise<BrokerProcess> } {
  const folders: string[] = [];
  const processes: BrokerProcess[] = [];
  after(async () => {
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) await p.stop('SIGKILL');
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  });
  return {
    folder(prefix) {
      const data = mkdtempSync(join(tmpdir(), prefix));
      folders.push(data);
      return data;
    },
    async start(data) {
      const broker = await spawnBroker(['--data', data, '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
      processes.push(broker);
      return broker;
    },
  };
}
