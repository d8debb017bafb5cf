import type { ClientBase } from 'pg';
import { FerryError } from '../../errors.js';
import type { PendingBatch } from './batch.js';

/**
 * The layout this code writes; a database with a higher one was written by a newer Ferry. 2: the
 * records may have the layouts core writes since journal format 3 (see store/journal/format.ts),
 * which a build of version 1 would misread; a database of version 1 is raised to 2 when opened.
 */
export const SCHEMA_VERSION = 2;

/**
 * Created on open when missing. `seq` is the order in which records were first added, which is
 * the order recovery hands them back in (an update keeps it). Types are 32-bit unsigned, so int8.
 */
export const CREATE_SCHEMA = `
CREATE TABLE IF NOT EXISTS ferry_meta (
  key text PRIMARY KEY,
  value int8 NOT NULL
);
CREATE TABLE IF NOT EXISTS ferry_records (
  id int8 PRIMARY KEY,
  seq int8 NOT NULL,
  type int8 NOT NULL,
  data bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS ferry_prepared (
  tx_id int8 PRIMARY KEY,
  data bytea NOT NULL,
  operations bytea NOT NULL
);
INSERT INTO ferry_meta (key, value) VALUES ('schema_version', ${SCHEMA_VERSION}), ('max_id', 0) ON CONFLICT (key) DO NOTHING;
`;

/**
 * One batch in one statement, so that it costs one round trip and commits on its own: deletes by
 * id, writes as one multi-row upsert, prepared transactions likewise, and the highest id used. The
 * record and prepared data travel in one binary parameter ($6) and are cut out of it by offset,
 * since node-postgres would send a bytea[] as hex text, twice the bytes and parsed by the server.
 * The statement's text never changes, so each connection parses it once (a named statement).
 * A batch folds each id to one change, so no row is touched twice in one statement.
 */
const BATCH_STATEMENT = `
WITH
  gone AS (DELETE FROM ferry_records WHERE id = ANY($1::int8[])),
  put AS (
    INSERT INTO ferry_records (id, seq, type, data)
    SELECT r.id, r.seq, r.type, substring($6::bytea FROM r.off FOR r.len)
    FROM unnest($2::int8[], $3::int8[], $4::int8[], $5::int4[], $7::int4[]) AS r(id, seq, type, off, len)
    ON CONFLICT (id) DO UPDATE SET type = excluded.type, data = excluded.data),
  unprepared AS (DELETE FROM ferry_prepared WHERE tx_id = ANY($8::int8[])),
  prepared AS (
    INSERT INTO ferry_prepared (tx_id, data, operations)
    SELECT p.tx_id, substring($6::bytea FROM p.off FOR p.len), substring($6::bytea FROM p.ops_off FOR p.ops_len)
    FROM unnest($9::int8[], $10::int4[], $11::int4[], $12::int4[], $13::int4[]) AS p(tx_id, off, len, ops_off, ops_len)
    ON CONFLICT (tx_id) DO UPDATE SET data = excluded.data, operations = excluded.operations)
UPDATE ferry_meta SET value = GREATEST(value, CASE key WHEN 'max_id' THEN $14::int8 ELSE $15::int8 END) WHERE key IN ('max_id', 'next_seq')`;

/**
 * Bytes of data per statement. A batch larger than this (a burst of large messages) goes out as
 * several statements in one explicit transaction, which keeps each parameter far below
 * PostgreSQL's 1 GiB limit for one value.
 */
const STATEMENT_BYTES = 16 * 1024 * 1024;

class StatementValues {
  readonly deleted: number[] = [];
  readonly ids: number[] = [];
  readonly seqs: number[] = [];
  readonly types: number[] = [];
  readonly offsets: number[] = [];
  readonly lengths: number[] = [];
  readonly unprepared: number[] = [];
  readonly txIds: number[] = [];
  readonly txOffsets: number[] = [];
  readonly txLengths: number[] = [];
  readonly opsOffsets: number[] = [];
  readonly opsLengths: number[] = [];
  readonly pieces: Buffer[] = [];
  bytes = 0;

  /** The 1-based offset of `data` in the statement's binary parameter. */
  place(data: Buffer): number {
    const at = this.bytes + 1;
    this.pieces.push(data);
    this.bytes += data.length;
    return at;
  }

  values(maxId: number, nextSeq: number): unknown[] {
    const blob = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.bytes);
    return [this.deleted, this.ids, this.seqs, this.types, this.offsets, blob, this.lengths, this.unprepared, this.txIds, this.txOffsets, this.txLengths, this.opsOffsets, this.opsLengths, maxId, nextSeq];
  }
}

function statements(batch: PendingBatch): StatementValues[] {
  const all = [new StatementValues()];
  let current = all[0]!;
  const room = (bytes: number): StatementValues => {
    if (current.bytes > 0 && current.bytes + bytes > STATEMENT_BYTES) all.push((current = new StatementValues()));
    return current;
  };
  for (const [txId, change] of batch.prepared) {
    if (!change.put) {
      current.unprepared.push(txId);
      continue;
    }
    const s = room(change.data.length + change.operations.length);
    s.txIds.push(txId);
    s.txOffsets.push(s.place(change.data));
    s.txLengths.push(change.data.length);
    s.opsOffsets.push(s.place(change.operations));
    s.opsLengths.push(change.operations.length);
  }
  for (const [id, change] of batch.records) {
    if (!change.put) {
      current.deleted.push(id);
      continue;
    }
    const s = room(change.data.length);
    s.ids.push(id);
    s.seqs.push(change.seq);
    s.types.push(change.type);
    s.offsets.push(s.place(change.data));
    s.lengths.push(change.data.length);
  }
  return all;
}

/** Writes `batch`, the highest id used and the next record sequence in one database transaction, on `client`. */
export async function commitBatch(client: ClientBase, batch: PendingBatch, maxId: number, nextSeq: number): Promise<void> {
  const parts = statements(batch);
  if (parts.length === 1) {
    await client.query({ name: 'ferry_batch', text: BATCH_STATEMENT, values: parts[0]!.values(maxId, nextSeq) });
    return;
  }
  await client.query('BEGIN');
  try {
    for (const part of parts) await client.query({ name: 'ferry_batch', text: BATCH_STATEMENT, values: part.values(maxId, nextSeq) });
    await client.query('COMMIT');
  } catch (err) {
    // the connection is dropped by the caller when the rollback cannot reach the server either
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Creates the tables when missing, and refuses a layout from a newer Ferry. */
export async function prepareSchema(client: ClientBase): Promise<void> {
  // two brokers creating the tables at once would race on the catalogue; one at a time
  await client.query('BEGIN');
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('ferry_schema'))");
    await client.query(CREATE_SCHEMA);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  const result = await client.query<{ value: string }>("SELECT value FROM ferry_meta WHERE key = 'schema_version'");
  const version = Number(result.rows[0]?.value ?? 0);
  if (version > SCHEMA_VERSION) {
    throw new FerryError('FERRY_STORE_FAILED', `the PostgreSQL database holds Ferry's schema version ${version}, newer than this broker's (${SCHEMA_VERSION}); upgrade the broker`);
  }
  // before this broker writes a record an older one would misread, so that one refuses the database
  if (version < SCHEMA_VERSION) await client.query("UPDATE ferry_meta SET value = $1 WHERE key = 'schema_version' AND value < $1", [SCHEMA_VERSION]);
  // the next record sequence, kept by every batch since it was added: a database written before
  // has it computed once, from its rows
  const next = await client.query("SELECT 1 FROM ferry_meta WHERE key = 'next_seq'");
  if (next.rowCount === 0) {
    await client.query("INSERT INTO ferry_meta (key, value) SELECT 'next_seq', COALESCE(max(seq), 0) + 1 FROM ferry_records ON CONFLICT (key) DO NOTHING");
  }
}

/**
 * The condition of the rows a broker needs before it serves: every type but `later` (integers,
 * checked). Written out, not a parameter, so that the planner matches it to the partial index.
 */
export function firstRowsCondition(later: readonly number[]): string {
  for (const type of later) if (!Number.isInteger(type) || type < 0) throw new RangeError(`record type ${type} is not a non-negative integer`);
  return later.length === 0 ? 'true' : `type <> ALL ('{${[...later].sort((a, b) => a - b).join(',')}}'::int8[])`;
}

/**
 * An index of the rows read before the broker serves (destinations, subscriptions...), in their
 * recovery order: with it they are read without a scan of the backlog. Only those rows are in it,
 * so writing a waiting message does not touch it. Its name carries the types left out.
 */
export async function prepareFirstRowsIndex(client: ClientBase, later: readonly number[]): Promise<void> {
  const name = `ferry_records_first_${[...later].sort((a, b) => a - b).join('_')}`;
  await client.query(`CREATE INDEX IF NOT EXISTS ${name} ON ferry_records (seq) WHERE ${firstRowsCondition(later)}`);
}

/** About how many rows `ferry_records` holds, from the planner's statistics; undefined when it has none yet. */
export async function estimatedRows(client: ClientBase): Promise<number | undefined> {
  const result = await client.query<{ rows: string }>("SELECT reltuples::int8 AS rows FROM pg_class WHERE oid = 'ferry_records'::regclass");
  const rows = Number(result.rows[0]?.rows ?? -1);
  return rows >= 0 ? rows : undefined;
}
