import pg from 'pg';
import type { LeaseRecord, LeaseStore } from './lease-file.js';

/**
 * The lease in the shared PostgreSQL database, as ActiveMQ's lease database locker keeps it in a
 * table: one row (`ferry_lease`) holding the lease record, and a claims table whose primary key
 * lets exactly one of the brokers racing to take over claim a generation. Every write is its own
 * committed transaction, so a backup reads what the primary last committed.
 */
export class PostgresLease implements LeaseStore {
  private readonly pool: pg.Pool;
  private prepared: Promise<void> | undefined;

  constructor(
    private readonly url: string,
    /** A statement without an answer within this fails: a renewal must not wait longer than a lease. */
    statementTimeout: number,
  ) {
    this.pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: statementTimeout, query_timeout: statementTimeout, keepAlive: true, application_name: 'ferry-lease' });
    // an idle connection the server drops is forgotten; the next statement opens another
    this.pool.on('error', () => undefined);
  }

  get where(): string {
    // the connection string may carry a password: name the database only
    try {
      const parsed = new URL(this.url);
      return `PostgreSQL database ${parsed.pathname.slice(1) || parsed.searchParams.get('dbname') || '(default)'}`;
    } catch {
      return 'the PostgreSQL database';
    }
  }

  private prepare(): Promise<void> {
    this.prepared ??= this.pool
      .query(
        `CREATE TABLE IF NOT EXISTS ferry_lease (name text PRIMARY KEY, record jsonb NOT NULL);
         CREATE TABLE IF NOT EXISTS ferry_lease_claims (generation bigint PRIMARY KEY, holder text NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now())`,
      )
      .then(
        () => undefined,
        (err: unknown) => {
          this.prepared = undefined;
          throw err;
        },
      );
    return this.prepared;
  }

  async read(): Promise<LeaseRecord | undefined> {
    await this.prepare();
    const result = await this.pool.query<{ record: LeaseRecord }>(`SELECT record FROM ferry_lease WHERE name = 'primary'`);
    return result.rows[0]?.record;
  }

  async write(record: LeaseRecord): Promise<void> {
    await this.prepare();
    await this.pool.query(`INSERT INTO ferry_lease (name, record) VALUES ('primary', $1) ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record`, [JSON.stringify(record)]);
  }

  /**
   * A read, a check and a write would let a renewal held up past its lease (a slow network, a
   * paused broker) overwrite the row of the broker that took the lease meanwhile: one statement
   * checks and writes.
   */
  async renew(record: LeaseRecord): Promise<boolean> {
    await this.prepare();
    const result = await this.pool.query(
      `UPDATE ferry_lease SET record = $1
        WHERE name = 'primary' AND record->>'holder' = $2 AND (record->>'generation')::bigint = $3
          AND NOT EXISTS (SELECT 1 FROM ferry_lease_claims WHERE generation > $3)`,
      [JSON.stringify(record), record.holder, record.generation],
    );
    return result.rowCount === 1;
  }

  async claim(generation: number, holder: string): Promise<boolean> {
    await this.prepare();
    const result = await this.pool.query(`INSERT INTO ferry_lease_claims (generation, holder) VALUES ($1, $2) ON CONFLICT (generation) DO NOTHING`, [generation, holder]);
    if (result.rowCount !== 1) return false;
    await this.pool.query(`DELETE FROM ferry_lease_claims WHERE generation < $1`, [generation - 2]);
    return true;
  }

  async lastClaim(): Promise<number> {
    await this.prepare();
    const result = await this.pool.query<{ generation: string | null }>(`SELECT max(generation) AS generation FROM ferry_lease_claims`);
    return Number(result.rows[0]?.generation ?? 0);
  }

  async requestHandback(holder: string | undefined): Promise<void> {
    await this.prepare();
    if (holder === undefined) await this.pool.query(`DELETE FROM ferry_lease WHERE name = 'handback'`);
    else await this.pool.query(`INSERT INTO ferry_lease (name, record) VALUES ('handback', $1) ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record`, [JSON.stringify({ holder })]);
  }

  async handbackRequest(): Promise<string | undefined> {
    await this.prepare();
    const result = await this.pool.query<{ record: { holder?: unknown } }>(`SELECT record FROM ferry_lease WHERE name = 'handback'`);
    const holder = result.rows[0]?.record.holder;
    return typeof holder === 'string' ? holder : undefined;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
