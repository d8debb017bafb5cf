import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NeighbourLink } from '../../src/network/link.js';

/** Far longer than the test's own time-out: an attempt that waits for it fails the test by hanging. */
const NEVER = 60 * 60 * 1000;

describe('opening a link to a neighbour', () => {
  let server: Server;
  let port: number;
  const accepted: Socket[] = [];
  before(async () => {
    // takes each connection and closes it, as a proxy with nothing behind it or a broker stopping does
    server = createServer((socket) => {
      accepted.push(socket);
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('fails at once when the neighbour closes the connection before CONNECTED, not at the time-out', { timeout: 30_000 }, async () => {
    await assert.rejects(NeighbourLink.open({ host: '127.0.0.1', port, heartbeat: 0 }, 'ferry-network:test', NEVER), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'FERRY_NETWORK_LINK');
      assert.match(err.message, /closed before CONNECTED/);
      return true;
    });
    assert.equal(accepted.length, 1);
  });
});
