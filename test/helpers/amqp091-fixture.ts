import { after, before } from 'node:test';
import type { ChannelModel } from 'amqplib';
import { connect091 } from './amqp091.js';
import { startBroker, type TestBroker } from './broker.js';

export interface Amqp091Fixture {
  /** The file's broker, started before its first test. */
  readonly broker: () => TestBroker;
  /** An amqplib connection to it, closed after the file's last test. */
  readonly conn: () => ChannelModel;
  /** A queue or exchange name of the file's own, `<prefix>.<name>.<n>`. */
  unique(name: string): string;
}

/** One broker for a test file with an amqplib connection to it, cleaned up after the file's tests. */
export function amqp091Fixture(prefix: string): Amqp091Fixture {
  let broker: TestBroker | undefined;
  let conn: ChannelModel | undefined;
  let counter = 0;
  before(async () => {
    broker = await startBroker();
    conn = await connect091(broker.amqpPort);
  });
  after(async () => {
    await conn?.close();
    await broker?.stop();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the broker starts before the first test');
    return value;
  };
  return {
    broker: () => started(broker),
    conn: () => started(conn),
    unique: (name) => `${prefix}.${name}.${counter++}`,
  };
}
