import { after, before } from 'node:test';
import type { ConfigValue } from '../../src/config/index.js';
import { startBroker, type TestBroker } from './broker.js';
import { connectStomp, type StompTestClient } from './stomp.js';

export interface StompFixture {
  /** The file's broker, started before its first test. */
  readonly broker: () => TestBroker;
  /** A @stomp/stompjs client, disconnected after the file's last test. */
  client(options?: Parameters<typeof connectStomp>[1]): Promise<StompTestClient>;
}

/** One broker for a test file, and the STOMP clients its tests open, cleaned up after it. */
export function stompFixture(settings: Record<string, ConfigValue> = {}): StompFixture {
  let broker: TestBroker | undefined;
  const clients: StompTestClient[] = [];
  before(async () => {
    broker = await startBroker(settings);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.disconnect().catch(() => {})));
    await broker?.stop();
  });
  return {
    broker: () => {
      if (broker === undefined) throw new Error('the broker starts before the first test');
      return broker;
    },
    async client(options = {}) {
      const c = await connectStomp(broker!.stompPort, options);
      clients.push(c);
      return c;
    },
  };
}
