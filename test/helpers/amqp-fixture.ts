import { after, before } from 'node:test';
import type { ConnectionOptions } from 'rhea';
import { connectAmqp, type AmqpTestClient } from './amqp.js';
import type { ConfigValue } from '../../src/config/index.js';
import { startBroker, type TestBroker } from './broker.js';

export interface AmqpFixture {
  /** The file's broker, started before its first test with the file's settings. */
  readonly broker: () => TestBroker;
  /** A rhea connection to the file's broker (or to another broker's `port`), closed after the file's last test. */
  client(port?: number, options?: Partial<ConnectionOptions>): Promise<AmqpTestClient>;
  /** A destination name of the file's own, `<prefix>.<name>.<n>`. */
  unique(name: string): string;
}

/** One broker for a test file with the AMQP 1.0 clients its tests open, cleaned up after the file's tests. */
export function amqpFixture(prefix: string, settings: Record<string, ConfigValue> = {}): AmqpFixture {
  let broker: TestBroker | undefined;
  const clients: AmqpTestClient[] = [];
  let counter = 0;
  before(async () => {
    broker = await startBroker(settings);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await broker?.stop();
  });
  const started = (): TestBroker => {
    if (broker === undefined) throw new Error('the broker starts before the first test');
    return broker;
  };
  return {
    broker: started,
    async client(port = started().amqpPort, options = {}) {
      const c = await connectAmqp(port, options);
      clients.push(c);
      return c;
    },
    unique: (name) => `${prefix}.${name}.${counter++}`,
  };
}
