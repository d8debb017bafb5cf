import { createServer, type Server } from 'node:http';
import type { LeaseRecord } from './lease-file.js';

/**
 * What the management port answers while the broker waits as a backup: every request gets 503 and
 * a JSON body saying so and naming the lease holder, so `ferry stat`, a load balancer's health
 * check or an operator's script can tell a backup from a broker that is down.
 */
export class BackupStatusServer {
  private holder: LeaseRecord | undefined;
  private server: Server | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  /** The holder the backup waits for, once known; undefined while the lease is missing. */
  waitingFor(record: LeaseRecord | undefined): void {
    this.holder = record;
  }

  listen(): Promise<number> {
    const server = createServer((req, res) => {
      const body = JSON.stringify({
        code: 'FERRY_HA_BACKUP',
        error: `this broker is a backup; the lease is held by ${this.holder?.holder ?? 'another broker'}`,
        role: 'backup',
        holder: this.holder?.holder ?? null,
        generation: this.holder?.generation ?? null,
      });
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'retry-after': '1' });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : this.port);
      });
    });
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
