// The BRIN index attach builds on an attached table's chain_seq
// (packages/lifecycle/src/attach/seq-index.ts), against a real PostgreSQL: it
// exists and is valid after attach; it is built CONCURRENTLY, so a product's
// insert is not blocked while the build waits for an open writer; the sealer's
// range query can use it; `attach --refresh` builds it for a table that lacks
// it, or whose build was interrupted (an INVALID index).
import pg from 'pg';
import { beforeAll, expect, inject, test } from 'vitest';
import { withDatabaseName } from '@audit-chain/db';
import { attachTable, createSeqIndex, refreshAttachedTable, seqIndexName } from '@audit-chain/lifecycle';
import { createTestDatabase } from '../support/database.ts';

const db = await createTestDatabase();
const productUrl = withDatabaseName(inject('serverUrl'), db.name);
let tableId = 0;

async function indexState(): Promise<{ valid: boolean; method: string; column: string } | undefined> {
  const result = await db.pool.query(
    `select i.indisvalid as valid, am.amname as method, a.attname as column
       from pg_index i join pg_class c on c.oid = i.indexrelid join pg_am am on am.oid = c.relam
       join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
      where i.indexrelid = to_regclass($1)`,
    [`public.${seqIndexName(tableId)}`],
  );
  return result.rows[0];
}

async function productClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: productUrl, application_name: 'fixture product' });
  client.on('error', () => {});
  await client.connect();
  return client;
}

beforeAll(async () => {
  await db.pool.query("create table public.events (id bigint generated always as identity primary key, tenant text not null, note text, at timestamptz not null default now())");
  await db.pool.query("insert into public.events (tenant, note) select 't' || (g % 7), 'n' || g from generate_series(1, 20000) g");
  const report = await attachTable(db.pool, { table: 'public.events', orgColumn: 'tenant', lockTimeoutMs: 2000 });
  tableId = report.tableId!;
});

test('attach leaves a valid BRIN index on chain_seq', async () => {
  expect(await indexState()).toEqual({ valid: true, method: 'brin', column: 'audit_chain_seq' });
});

test("the sealer's range query of one chain can use it", async () => {
  const client = await db.pool.connect();
  try {
    await client.query('begin');
    await client.query('analyze public.events');
    await client.query('set local enable_seqscan = off');
    const plan = await client.query<{ 'QUERY PLAN': string }>(
      `explain select audit_chain_seq from public.events t
        where t.audit_chain_seq > 19000 and t.audit_chain_seq <= 20000 and t.tenant::text is not distinct from 't3' order by t.audit_chain_seq limit 1000`,
    );
    expect(plan.rows.map((row) => row['QUERY PLAN']).join('\n')).toContain(`Bitmap Index Scan on ${seqIndexName(tableId)}`);
  } finally {
    await client.query('rollback');
    client.release();
  }
});

test('built concurrently: while the build waits for an open writer, another insert goes through', async () => {
  await db.pool.query(`drop index public.${seqIndexName(tableId)}`);
  const open = await productClient();
  const other = await productClient();
  try {
    await open.query('begin');
    await open.query("insert into public.events (tenant, note) values ('t1', 'held open')");
    const building = createSeqIndex(db.pool, tableId, 'public', 'events', 'audit_chain_seq');
    // The build is waiting on the open writer (it is listed waiting on a lock, and has not finished).
    await expect.poll(async () => (await db.pool.query("select count(*)::int as n from pg_stat_activity where datname = current_database() and query like 'create index concurrently%' and wait_event_type = 'Lock'")).rows[0].n, { timeout: 10_000 }).toBe(1);
    await other.query("set statement_timeout = '2s'");
    await other.query("insert into public.events (tenant, note) values ('t2', 'not blocked')");
    expect((await indexState())?.valid ?? false).toBe(false);
    await open.query('commit');
    expect(await building).toEqual([`created the BRIN index public.${seqIndexName(tableId)} on audit_chain_seq (concurrently)`]);
    expect(await indexState()).toEqual({ valid: true, method: 'brin', column: 'audit_chain_seq' });
  } finally {
    await open.end();
    await other.end();
  }
});

test('attach --refresh builds the index again when it is missing or invalid', async () => {
  await db.pool.query(`drop index public.${seqIndexName(tableId)}`);
  const missing = await refreshAttachedTable(db.pool, { table: 'public.events' });
  expect(missing.lines[0]).toBe(`created the BRIN index public.${seqIndexName(tableId)} on audit_chain_seq (concurrently)`);
  // What an interrupted CREATE INDEX CONCURRENTLY leaves behind.
  await db.pool.query(`update pg_index set indisvalid = false where indexrelid = 'public.${seqIndexName(tableId)}'::regclass`);
  const invalid = await refreshAttachedTable(db.pool, { table: 'public.events' });
  expect(invalid.lines.slice(0, 2)).toEqual([
    `dropped the invalid index public.${seqIndexName(tableId)} an interrupted build left`,
    `created the BRIN index public.${seqIndexName(tableId)} on audit_chain_seq (concurrently)`,
  ]);
  expect(await indexState()).toEqual({ valid: true, method: 'brin', column: 'audit_chain_seq' });
  const again = await refreshAttachedTable(db.pool, { table: 'public.events' });
  expect(again.lines).toEqual(['public.events: the columns are the confirmed set; nothing to refresh']);
});
