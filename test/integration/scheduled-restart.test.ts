import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ApiClient } from '../helpers/management.js';
import { startPostgres } from '../helpers/postgres.js';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { connectStomp } from '../helpers/stomp.js';

/**
 * Scheduled messages outlive the broker process whatever their delivery mode, as ActiveMQ's job
 * scheduler keeps every job in its store: a producer that got its receipt finds its jobs waiting
 * after a clean stop or a kill -9, on the journal and on PostgreSQL. When they come due is the
 * core's business, tested with an injected clock in test/core/timing.test.ts; here each job waits
 * an hour, so nothing depends on how long a restart takes.
 */

const cluster = await startPostgres();
if (typeof cluster !== 'string') after(() => cluster.stop());

const HOUR = 3_600_000;

interface ListedJob {
  readonly id: string;
  readonly destination: string;
}

async function scheduleThenRestart(start: () => Promise<BrokerProcess>, signal: NodeJS.Signals): Promise<ListedJob[]> {
  const first = await start();
  const producer = await connectStomp(first.ports['stomp']!);
  for (let i = 0; i < 10; i++) {
    await producer.sendConfirmed('/queue/sched.kept', `np${i}`, { persistent: 'false', AMQ_SCHEDULED_DELAY: String(HOUR) });
  }
  await producer.sendConfirmed('/queue/sched.kept', 'durable', { persistent: 'true', AMQ_SCHEDULED_DELAY: String(HOUR) });
  await first.stop(signal);
  await producer.closed;

  const second = await start();
  try {
    const listed = await new ApiClient(second.ports['http']!).get<{ items: ListedJob[] }>('/api/v1/scheduled?limit=100');
    assert.equal(listed.status, 200);
    return listed.body.items;
  } finally {
    await second.stop();
  }
}

describe('non-persistent scheduled messages across a restart', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(`on the journal, ${signal}: every receipted job, persistent or not, is still scheduled`, async () => {
      const data = mkdtempSync(join(tmpdir(), 'ferry-sched-'));
      try {
        const jobs = await scheduleThenRestart(() => spawnBroker(['--data', data, '--stomp-port', '0', '--stomp-host', '127.0.0.1']), signal);
        assert.equal(jobs.filter((job) => job.destination === 'queue://sched.kept').length, 11, `scheduled after the restart: ${JSON.stringify(jobs)}`);
      } finally {
        rmSync(data, { recursive: true, force: true });
      }
    });
  }

  test('on PostgreSQL, SIGKILL: every receipted job, persistent or not, is still scheduled', { skip: typeof cluster === 'string' ? cluster : false }, async () => {
    if (typeof cluster === 'string') return;
    const url = await cluster.createDatabase();
    const data = mkdtempSync(join(tmpdir(), 'ferry-sched-pg-'));
    const config = join(data, 'ferry.yaml');
    writeFileSync(config, `store:\n  type: postgres\n  postgres:\n    url: ${JSON.stringify(url)}\n`);
    try {
      const jobs = await scheduleThenRestart(() => spawnBroker(['--data', data, '--config', config, '--stomp-port', '0', '--stomp-host', '127.0.0.1']), 'SIGKILL');
      assert.equal(jobs.filter((job) => job.destination === 'queue://sched.kept').length, 11, `scheduled after the restart: ${JSON.stringify(jobs)}`);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
