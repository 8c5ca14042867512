// The insert-conditions decomposition variants must each differ from audit_logs'
// layout by exactly the one thing their name says, or the decomposition prices
// the wrong thing. Read from the catalogue of a migrated database; correctness
// only, timings are the benchmark's business.
import { beforeAll, describe, expect, test } from 'vitest';
import { createTestDatabase } from '../support/database.ts';
import { pairedRatios, selectExtras, type Measurement } from './insert-conditions.ts';
import { DECOMPOSITION_VARIANT_IDS, findVariant } from './insert-variants.ts';

const db = await createTestDatabase();

beforeAll(async () => {
  for (const id of DECOMPOSITION_VARIANT_IDS) await db.pool.query(findVariant(id).install);
});

interface Layout {
  identity: string;
  chainSeqDefault: string | null;
  indexes: string[];
  checks: string[];
  triggers: number;
}

/** A table's layout with its own name taken out of index definitions, so two tables compare. */
async function layoutOf(table: string): Promise<Layout> {
  const column = await db.pool.query<{ attidentity: string; def: string | null }>(
    `SELECT a.attidentity, pg_get_expr(d.adbin, d.adrelid) AS def
       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = $1::regclass AND a.attname = 'chain_seq'`,
    [table],
  );
  const indexes = await db.pool.query<{ def: string }>(
    `SELECT regexp_replace(pg_get_indexdef(indexrelid), '^CREATE (UNIQUE )?INDEX \\S+ ON \\S+ ', '\\1') AS def
       FROM pg_index WHERE indrelid = $1::regclass ORDER BY 1`,
    [table],
  );
  const checks = await db.pool.query<{ def: string }>(
    `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c' ORDER BY 1`,
    [table],
  );
  const triggers = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal`, [table]);
  return {
    identity: column.rows[0]!.attidentity,
    chainSeqDefault: column.rows[0]!.def?.replace(table, '<table>') ?? null,
    // Sorted here, not by the server's collation, so the expected lists below sort the same way.
    indexes: indexes.rows.map((row) => row.def).sort(),
    checks: checks.rows.map((row) => row.def).sort(),
    triggers: triggers.rows[0]!.n,
  };
}

const BRIN = 'USING brin (chain_seq)';
const LINK = 'UNIQUE USING btree (org_id, prev_checksum) NULLS NOT DISTINCT WHERE (prev_checksum IS NOT NULL)';
const CHAIN_SEQ = 'USING btree (org_id, chain_seq)';
const LISTING = 'USING btree (org_id, occurred_at)';

test('audit-chain-copy is audit_logs without its triggers', async () => {
  const [real, copy] = [await layoutOf('audit_logs'), await layoutOf(findVariant('audit-chain-copy').table)];
  expect(real.triggers).toBeGreaterThan(0);
  expect(copy).toEqual({ ...real, triggers: 0 });
  expect(copy.identity).toBe('a');
  expect(copy.indexes).toEqual(expect.arrayContaining([BRIN, LINK, CHAIN_SEQ]));
  expect(copy.indexes).toHaveLength(4);
});

describe.each([
  ['audit-chain-sequence-default', (copy: Layout): Layout => ({ ...copy, identity: '', chainSeqDefault: "nextval('<table>_chain_seq'::regclass)" })],
  ['audit-chain-no-brin', (copy: Layout): Layout => ({ ...copy, indexes: copy.indexes.filter((def) => def !== BRIN) })],
  ['audit-chain-no-link-index', (copy: Layout): Layout => ({ ...copy, indexes: copy.indexes.filter((def) => def !== LINK) })],
  ['audit-chain-brin', (copy: Layout): Layout => ({ ...copy, indexes: copy.indexes.map((def) => (def === CHAIN_SEQ ? LISTING : def)).sort() })],
] as const)('%s', (id, expected) => {
  test('differs from audit-chain-copy by that one thing only', async () => {
    const copy = await layoutOf(findVariant('audit-chain-copy').table);
    expect(await layoutOf(findVariant(id).table)).toEqual(expected(copy));
  });
});

test('the sequence-default variant numbers rows from its own sequence and its reset restarts it', async () => {
  const variant = findVariant('audit-chain-sequence-default');
  const insert = `INSERT INTO ${variant.table} (org_id, actor_type, action) VALUES (gen_random_uuid(), 'agent', 'x') RETURNING chain_seq::int AS seq`;
  const first = (await db.pool.query<{ seq: number }>(insert)).rows[0]!.seq;
  expect((await db.pool.query<{ seq: number }>(insert)).rows[0]!.seq).toBe(first + 1);
  await db.pool.query(`BEGIN; ${variant.reset} COMMIT;`);
  expect((await db.pool.query<{ seq: number }>(insert)).rows[0]!.seq).toBe(1);
});

test('--variants adds the decomposition variants named, in report order; the pair and the insert section\'s are left out', () => {
  expect(selectExtras(['audit-chain-no-brin', 'plain', 'advisory-lock', 'audit-chain-copy', 'audit-chain']).map((v) => v.id)).toEqual([
    'audit-chain-copy',
    'audit-chain-no-brin',
  ]);
  expect(selectExtras(undefined)).toEqual([]);
  expect(() => selectExtras(['audit-chain-no-brim'])).toThrow(/unknown insert variant audit-chain-no-brim/);
});

test('ratios pair the runs of one condition and round', () => {
  const m = (condition: string, round: number, variant: string, tps: number): Measurement => ({ condition, round, variant, tps, rowsBefore: 0, load: 0 });
  const measurements = [
    m('simple-growing', 0, 'audit-chain-copy', 100),
    m('simple-growing', 0, 'audit-chain-no-brin', 110),
    m('simple-growing', 1, 'audit-chain-copy', 200),
    m('simple-growing', 1, 'audit-chain-no-brin', 204),
    m('prepared-growing', 0, 'audit-chain-no-brin', 1),
    m('simple-growing', 2, 'audit-chain-no-brin', 50),
  ];
  expect(pairedRatios(measurements, 'simple-growing', 3, 'audit-chain-no-brin', 'audit-chain-copy')).toEqual([1.1, 1.02]);
});
