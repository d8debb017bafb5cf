import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { connectStomp } from '../helpers/stomp.js';
import { drain, streamUntil } from '../helpers/stream.js';

/**
 * The journal's promise, checked the hard way: a broker process killed with SIGKILL while
 * persistent messages stream in, restarted on the same data folder, must deliver every message
 * whose receipt the producer got.
 */

const start = (data: string): Promise<BrokerProcess> => spawnBroker(['--data', data, '--stomp-port', '0', '--stomp-host', '127.0.0.1']);

describe('kill -9 during a persistent send stream', () => {
  for (const killAfter of [1, 400, 3000]) {
    test(`killed after ${killAfter} receipts: every receipted message survives, in order`, async () => {
      const data = mkdtempSync(join(tmpdir(), 'ferry-kill-'));
      const first = await start(data);
      const producer = await connectStomp(first.ports['stomp']!);
      let killed: Promise<number | null> | undefined;
      const confirmed = await streamUntil(producer, '/queue/durable.stream', 64, (n) => {
        if (n >= killAfter && killed === undefined) killed = first.stop('SIGKILL');
        return killed !== undefined;
      });
      await killed;
      await producer.closed;
      assert.ok(confirmed.size >= killAfter);

      const second = await start(data);
      try {
        const consumer = await connectStomp(second.ports['stomp']!);
        const got = await drain(consumer, '/queue/durable.stream', confirmed);
        const seqs = got.map((m) => Number(m.headers['seq']));
        const missing = [...confirmed].filter((s) => !seqs.includes(s));
        assert.deepEqual(missing, [], 'every message the producer got a receipt for is delivered');
        assert.equal(new Set(seqs).size, seqs.length, 'none twice');
        for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `in order: ${seqs[i - 1]} then ${seqs[i]}`);
        await consumer.disconnect();
      } finally {
        await second.stop();
      }
    });
  }

  test('killed with most bodies on disk only (a 16 KiB body cache): they come back whole after recovery', async () => {
    const data = mkdtempSync(join(tmpdir(), 'ferry-kill-'));
    const config = join(data, 'ferry.yaml');
    writeFileSync(config, 'store:\n  bodyCacheSize: 16384\n');
    const startSmall = (): Promise<BrokerProcess> => spawnBroker(['--data', data, '--config', config, '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
    const bodyOf = (n: number): string => `m${n}:${'x'.repeat(500)}`;
    const first = await startSmall();
    const producer = await connectStomp(first.ports['stomp']!);
    const confirmed = await streamUntil(producer, '/queue/durable.ondisk', 64, (n) => n >= 2000, bodyOf);
    await first.stop('SIGKILL');
    await producer.closed;

    const second = await startSmall();
    try {
      const consumer = await connectStomp(second.ports['stomp']!);
      const got = await drain(consumer, '/queue/durable.ondisk', confirmed);
      const missing = [...confirmed].filter((s) => !got.some((m) => Number(m.headers['seq']) === s));
      assert.deepEqual(missing, [], 'every message the producer got a receipt for is delivered');
      for (const m of got) assert.equal(m.body, bodyOf(Number(m.headers['seq'])));
      await consumer.disconnect();
    } finally {
      await second.stop();
    }
  });

  test('messages a consumer had received but not acknowledged come back flagged redelivered', async () => {
    const data = mkdtempSync(join(tmpdir(), 'ferry-kill-'));
    const first = await start(data);
    const client = await connectStomp(first.ports['stomp']!);
    for (let i = 1; i <= 20; i++) await client.sendConfirmed('/queue/durable.unacked', `u${i}`, { persistent: 'true' });
    const inbox = client.subscribe('/queue/durable.unacked', { ack: 'client-individual' });
    const seen = await inbox.take(20);
    assert.ok(seen.every((m) => m.headers['redelivered'] === undefined));
    // a receipt covers everything the broker wrote before it, the record of these deliveries too
    await client.sendConfirmed('/queue/durable.fence', 'fence', { persistent: 'true' });
    await first.stop('SIGKILL');
    await client.closed;

    const second = await start(data);
    try {
      const again = await connectStomp(second.ports['stomp']!);
      const got = await drain(again, '/queue/durable.unacked', new Set(), 1500);
      assert.deepEqual(got.map((m) => m.body), seen.map((m) => m.body));
      assert.ok(got.every((m) => m.headers['redelivered'] === 'true'), 'each comes back flagged redelivered');
      await again.disconnect();
    } finally {
      await second.stop();
    }
  });

  test('a durable subscriber away while 1,000 persistent messages are sent, and the broker killed, gets all 1,000', async () => {
    const data = mkdtempSync(join(tmpdir(), 'ferry-kill-'));
    const first = await start(data);
    const subscriber = await connectStomp(first.ports['stomp']!, { headers: { 'client-id': 'away' } });
    const sub = subscriber.subscribe('/topic/durable.news', { 'activemq.subscriptionName': 'reader', receipt: 'subscribed' });
    await new Promise<void>((resolve) => subscriber.client.watchForReceipt('subscribed', () => resolve()));
    sub.subscription.unsubscribe();
    await subscriber.disconnect();
    const producer = await connectStomp(first.ports['stomp']!);
    const confirmed = await streamUntil(producer, '/topic/durable.news', 64, (n) => n >= 1000);
    assert.equal(confirmed.size >= 1000, true);
    await first.stop('SIGKILL');
    await producer.closed;

    const second = await start(data);
    try {
      const back = await connectStomp(second.ports['stomp']!, { headers: { 'client-id': 'away' } });
      const inbox = back.subscribe('/topic/durable.news', { 'activemq.subscriptionName': 'reader' });
      const got = await inbox.take(1000, 10_000);
      assert.deepEqual(got.map((m) => Number(m.headers['seq'])), Array.from({ length: 1000 }, (_, i) => i + 1));
      await back.disconnect();
    } finally {
      await second.stop();
    }
  });
});
