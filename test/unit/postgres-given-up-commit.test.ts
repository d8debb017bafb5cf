import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { PostgresStore, type PostgresEvent } from '../../src/store/index.js';
import { until } from '../helpers/network.js';
import { startPostgres } from '../helpers/postgres.js';

const cluster = await startPostgres();
const skip = typeof cluster === 'string' ? cluster : false;
if (typeof cluster !== 'string') after(() => cluster.stop());

/** Short, so that a commit held up by the tests below is given up on without a long wait. */
const QUERY_TIMEOUT = 1500;

/** What keeps PostgreSQL from finishing a commit, until `release`, and what its server processes wait in meanwhile. */
interface Obstacle {
  readonly name: string;
  /** pg_stat_activity's wait_event_type or wait_event of a commit held up. */
  readonly waitsIn: string;
  hold(url: string, admin: pg.Client): Promise<() => Promise<void>>;
}

/** Another session's transaction that ran `lock` and commits at the release. */
function lockedBy(name: string, lock: string): Obstacle {
  return {
    name,
    waitsIn: 'Lock',
    async hold(url) {
      const holder = new pg.Client({ connectionString: url, application_name: 'holder' });
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query(lock);
      return async () => {
        await holder.query('COMMIT');
        await holder.end();
      };
    },
  };
}

/** The store's server processes that wait in `waitsIn`. */
async function waiting(admin: pg.Client, waitsIn: string): Promise<number[]> {
  const result = await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ferry' AND (wait_event_type = $1 OR wait_event = $1)", [waitsIn]);
  return result.rows.map((row) => row.pid);
}

const obstacles: Obstacle[] = [
  lockedBy('a row lock on ferry_meta', 'SELECT key FROM ferry_meta FOR UPDATE'),
  lockedBy('a table lock on ferry_records', 'LOCK TABLE ferry_records IN ACCESS EXCLUSIVE MODE'),
  {
    // the commit is in the WAL, and is visible once the standby confirms it or its process ends
    name: 'a synchronous standby away',
    waitsIn: 'SyncRep',
    async hold(url, admin) {
      // a commit that wrote nothing does not wait for the standby
      await admin.query('CREATE TABLE probed (n int)');
      await admin.query("ALTER SYSTEM SET synchronous_standby_names = 'away'");
      await admin.query('SELECT pg_reload_conf()');
      const release = async (): Promise<void> => {
        await admin.query('ALTER SYSTEM RESET synchronous_standby_names');
        await admin.query('SELECT pg_reload_conf()');
      };
      // the server's processes take the setting up at their own pace: once a commit of another
      // session waits for the standby, the store's commits will too
      for (;;) {
        const probe = new pg.Client({ connectionString: url, application_name: 'probe' });
        probe.on('error', () => undefined);
        await probe.connect();
        const pid = (await probe.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        let committed = false;
        const commit = probe.query('INSERT INTO probed VALUES (1)').then(
          () => (committed = true),
          () => undefined,
        );
        let held = false;
        await until('a commit to wait for the standby, or go through', async () => {
          held = (await admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event = 'SyncRep'", [pid])).rowCount === 1;
          return held || committed;
        });
        if (held) await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        await commit;
        await probe.end().catch(() => undefined);
        if (held) return release;
      }
    },
  },
];

describe('PostgresStore, a commit given up on', { skip }, () => {
  if (typeof cluster === 'string') return;

  for (const obstacle of obstacles) {
    test(`held up by ${obstacle.name} past queryTimeout: its server process is ended before the retry, and a record deleted meanwhile stays deleted`, async () => {
      const url = await cluster.createDatabase();
      const events: PostgresEvent[] = [];
      const store = new PostgresStore({ url, queryTimeout: QUERY_TIMEOUT, onEvent: (event) => events.push(event) });
      await store.open();
      const admin = new pg.Client({ connectionString: url, application_name: 'admin' });
      await admin.connect();
      try {
        store.add(1, 4, Buffer.from('kept'));
        await store.sync();
        const release = await obstacle.hold(url, admin);
        let released = false;
        try {
          store.add(2, 4, Buffer.from('acknowledged while its commit waits'));
          const stored = store.sync();
          let first: number | undefined;
          await until('the commit to be held up', async () => (first = (await waiting(admin, obstacle.waitsIn))[0]) !== undefined);
          // a message consumed and acknowledged while its own commit waits
          store.delete(2);
          const acknowledged = store.sync();
          await until('the commit to be given up on', () => events.some((event) => event.event === 'postgres.failed'));
          // the retry is held up too: before the fix beside the first commit, now after it has gone
          await until('the retry to be held up', async () => (await waiting(admin, obstacle.waitsIn)).some((pid) => pid !== first));
          released = true;
          await release();
          await stored;
          await acknowledged;
        } finally {
          if (!released) await release();
        }
        await store.close();
      } finally {
        await admin.end();
        await store.close().catch(() => undefined);
      }

      const again = new PostgresStore({ url });
      const state = await again.open();
      assert.deepEqual(
        state.records.map((r) => [r.id, r.data.toString()]),
        [[1, 'kept']],
      );
      await again.close();
    });
  }
});
