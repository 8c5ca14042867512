// Attached tables' checkpoints as the lag views read them: the latest per chain
// of a page (one query) is each chain's highest chain_seq (ties: the later
// record), NULL keys included, and read by index probes, not by a scan of the
// record; one chain's listing follows the chain's index. Real PostgreSQL; the
// records are inserted directly (many chains, many checkpoints each).
import { beforeAll, expect, test } from 'vitest';
import { attachTable } from '@audit-chain/lifecycle';
import { createTestDatabase } from '../../../test/support/database.ts';
import type { Query } from './sql.ts';
import { readLatestTableCheckpoints, readTableCheckpoints } from './table-checkpoints.ts';

const db = await createTestDatabase();
const KEYS: (string | null)[] = [null, '', 'null', 'a b/c', 'ünï/✓', ...Array.from({ length: 60 }, (_, i) => `tenant-${i}`)];
let tableId = 0;

beforeAll(async () => {
  await db.pool.query('create table public.events (id bigserial primary key, tenant text, at timestamptz not null default now())');
  await db.pool.query(`insert into public.events (tenant) values ('x')`);
  await attachTable(db.pool, { table: 'public.events', orgColumn: 'tenant', orderBy: ['at', 'id'] });
  tableId = (await db.pool.query<{ id: number }>(`select id from audit_chain_tables where table_name = 'events'`)).rows[0]!.id;
  // 40 checkpoints per chain, chains interleaved; each chain's chain_seq rises, and its last two share a chain_seq.
  await db.pool.query(
    `insert into audit_chain_table_checkpoints (table_id, chain_key, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body)
     select $1, k.key, least(r, 39) * 10 + k.i, least(r, 39), 'c', timestamptz '2020-01-01' + r * interval '1 hour', 'k', 's', '{}'
       from generate_series(1, 40) r, unnest($2::text[]) with ordinality k(key, i)
      order by r, k.i`,
    [tableId, KEYS],
  );
  // Another table's records with the same keys must not be read.
  await db.pool.query('create table public.other (id bigserial primary key, tenant text, at timestamptz not null default now())');
  await db.pool.query(`insert into public.other (tenant) values ('x')`);
  await attachTable(db.pool, { table: 'public.other', orgColumn: 'tenant', orderBy: ['at', 'id'] });
  await db.pool.query(
    `insert into audit_chain_table_checkpoints (table_id, chain_key, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body)
     select t.id, k.key, 100000, 1, 'c', timestamptz '2020-01-01', 'k', 's', '{}'
       from audit_chain_tables t, unnest($1::text[]) k(key) where t.table_name = 'other'`,
    [KEYS],
  );
  await db.pool.query('analyze audit_chain_table_checkpoints');
});

async function explain(query: Query): Promise<string> {
  const rows = await db.pool.query<{ 'QUERY PLAN': string }>({ text: `explain ${query.text}`, values: query.values });
  return rows.rows.map((row) => row['QUERY PLAN']).join('\n');
}

test('the latest checkpoint of each listed chain: highest chain_seq, then the later record, NULL and odd keys included', async () => {
  const want = await db.pool.query<{ chain_key: string | null; id: string }>(
    `select distinct on (chain_key) chain_key, id::text from audit_chain_table_checkpoints where table_id = $1 order by chain_key, chain_seq desc, id desc`,
    [tableId],
  );
  const byKey = new Map(want.rows.map((row) => [row.chain_key, row.id]));
  const query = readLatestTableCheckpoints(KEYS.map(() => tableId), KEYS);
  const got = await db.pool.query<{ i: number; id: string; sealed_count: string }>(query.text, query.values);
  expect(got.rows).toHaveLength(KEYS.length);
  for (const row of got.rows) {
    expect(row.id, String(KEYS[row.i - 1])).toBe(byKey.get(KEYS[row.i - 1]!));
    expect(row.sealed_count).toBe('39');
  }
  // A chain without records is simply absent.
  const missing = readLatestTableCheckpoints([tableId, tableId], ['no such chain', 'null']);
  expect((await db.pool.query<{ i: number }>(missing.text, missing.values)).rows.map((row) => row.i)).toEqual([2]);
});

test('the latest per chain is read by index probes, not a scan of the record', async () => {
  const plan = await explain(readLatestTableCheckpoints([tableId, tableId, tableId], [null, 'a b/c', 'tenant-3']));
  expect(plan).toContain('audit_chain_table_checkpoints_chain_seq_idx');
  expect(plan).not.toMatch(/Seq Scan on audit_chain_table_checkpoints/);
  const one = await explain(readTableCheckpoints(tableId, 'tenant-3', 5));
  expect(one).toContain('audit_chain_table_checkpoints_chain_seq_idx');
  expect(one).not.toMatch(/Seq Scan on audit_chain_table_checkpoints/);
});

test("one chain's listing: newest chain_seq first, keyset-paged without overlap", async () => {
  for (const key of [null, 'a b/c']) {
    const all = await db.pool.query<{ id: string; chain_seq: string }>(readTableCheckpoints(tableId, key, 1000));
    expect(all.rows).toHaveLength(40);
    const seen: string[] = [];
    let cursor: { id: bigint; chainSeq: bigint } | undefined;
    for (;;) {
      const page = (await db.pool.query<{ id: string; chain_seq: string }>(readTableCheckpoints(tableId, key, 7, cursor))).rows;
      seen.push(...page.map((row) => row.id));
      if (page.length < 7) break;
      cursor = { id: BigInt(page.at(-1)!.id), chainSeq: BigInt(page.at(-1)!.chain_seq) };
    }
    expect(seen).toEqual(all.rows.map((row) => row.id));
    const seqs = all.rows.map((row) => BigInt(row.chain_seq));
    expect(seqs).toEqual([...seqs].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)));
  }
});
