// Format v2 reads every covered column as a canonical text produced by
// PostgreSQL. Property tests against a real server: generated values of every
// supported type are stored, and (1) the canonical text and the value's exact
// binary form (its send function) determine each other, so two different stored
// values never share a text and NULL is no value's text; (2) the texts do not
// change under random TimeZone, DateStyle, IntervalStyle, extra_float_digits and
// bytea_output; (3) every stored value has a text (total).
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { selectListV2, valuesFromResult, type CoveredColumn } from '@audit-chain/chain';
import { connect, createTestDatabase } from '../support/database.ts';
import { PROBE_COLUMNS, PROBE_DDL, PROBE_INSERT, probeParams, probeRow, sessionSettings } from './generators.ts';

const db = await createTestDatabase();
const COLUMNS: CoveredColumn[] = PROBE_COLUMNS.map((c) => ({ name: c.name, type: c.type, personal: false }));
const READ = `select n, ${selectListV2(COLUMNS, 'p')} from probe p order by n`;
const RUNS = Number(process.env.FORMAT_V2_RUNS ?? 60);

let client: pg.Client;
let count = 0;

beforeAll(async () => {
  await db.pool.query(PROBE_DDL);
  client = await connect(db.url);
  await fc.assert(
    fc.asyncProperty(fc.array(probeRow, { minLength: 1, maxLength: 20 }), async (rows) => {
      for (const row of rows) await client.query(PROBE_INSERT, probeParams(count++, row));
    }),
    { numRuns: RUNS },
  );
});
afterAll(async () => {
  await client.end();
});

async function readTexts(settings?: Record<string, string>): Promise<(string | null)[][]> {
  await client.query('begin');
  try {
    for (const [name, value] of Object.entries(settings ?? {})) await client.query(`select set_config($1, $2, true)`, [name, value]);
    const result = await client.query(READ);
    return result.rows.map((row) => valuesFromResult(row, COLUMNS.length));
  } finally {
    await client.query('rollback');
  }
}

describe('format v2 column encoding', () => {
  test('the generated rows were stored', async () => {
    const stored = await db.pool.query<{ n: number }>('select count(*)::int as n from probe');
    expect(stored.rows[0]!.n).toBe(count);
    expect(count).toBeGreaterThan(RUNS);
  });

  test.each(PROBE_COLUMNS.map((c) => [c.name, c] as const))('%s: canonical text <-> stored bytes is a bijection, NULL apart, every value has a text', async (_name, column) => {
    const index = PROBE_COLUMNS.indexOf(column);
    const text = `(${selectListV2([COLUMNS[index]!], 'p').replace(/ as v0$/, '')})`;
    const result = await db.pool.query<{ values: string; texts: string; pairs: string; null_texts: string; null_values: string }>(
      `select count(distinct encode(${column.send}(p.${column.name}), 'hex'))::text as values,
              count(distinct ${text})::text as texts,
              count(distinct (encode(${column.send}(p.${column.name}), 'hex'), ${text})) filter (where p.${column.name} is not null)::text as pairs,
              count(*) filter (where ${text} is null)::text as null_texts,
              count(*) filter (where p.${column.name} is null)::text as null_values
         from probe p`,
    );
    const row = result.rows[0]!;
    expect(Number(row.values)).toBeGreaterThan(1);
    expect(row.texts).toBe(row.values);
    expect(row.pairs).toBe(row.values);
    expect(row.null_texts).toBe(row.null_values);
  });

  test('the same rows give the same texts under random session settings', async () => {
    const reference = await readTexts({ TimeZone: 'UTC', DateStyle: 'ISO, MDY', IntervalStyle: 'postgres', extra_float_digits: '1', bytea_output: 'hex' });
    await fc.assert(
      fc.asyncProperty(sessionSettings, async (settings) => {
        expect(await readTexts(settings)).toEqual(reference);
      }),
      { numRuns: 25 },
    );
  });

  test('examples: BC years, infinities, numeric scale, json numbers, masks, padding', async () => {
    const result = await db.pool.query(
      `select ${selectListV2(
        [
          { name: 'a', type: 'timestamp with time zone', personal: false },
          { name: 'b', type: 'timestamp without time zone', personal: false },
          { name: 'c', type: 'date', personal: false },
          { name: 'd', type: 'numeric', personal: false },
          { name: 'e', type: 'jsonb', personal: false },
          { name: 'f', type: 'inet', personal: false },
          { name: 'g', type: 'bpchar', personal: false },
          { name: 'h', type: 'timestamp with time zone', personal: false },
          { name: 'i', type: 'date', personal: false },
          { name: 'j', type: 'double precision', personal: false },
          { name: 'k', type: 'timestamp(3) with time zone[]', personal: false },
        ],
        'x',
      )}
       from (select timestamptz '0001-01-01 00:00:00+15:00' as a, timestamp '0044-03-15 12:00 BC' as b, date 'infinity' as c,
                    1.0::numeric as d, '{"n": 1e400, "m": 1.0}'::jsonb as e, '192.0.2.1/32'::inet as f, 'a '::bpchar as g,
                    timestamptz '9999-12-31T23:59:59-15:59' as h, date '5874897-12-31' as i, '-0'::float8 as j,
                    array[timestamptz '-infinity', null, '2026-01-01 00:00:00.5+00'] as k) x`,
    );
    const texts = valuesFromResult(result.rows[0]!, 11);
    expect(texts).toEqual([
      '0000-12-31T09:00:00.000000Z',
      '-0043-03-15T12:00:00.000000',
      'infinity',
      '1.0',
      `{"m": 1.0, "n": 1${'0'.repeat(400)}}`,
      '192.0.2.1',
      'a ',
      '10000-01-01T15:58:59.000000Z',
      '5874897-12-31',
      '8000000000000000',
      '[1:3]={-infinity,NULL,2026-01-01T00:00:00.500000Z}',
    ]);
  });
});
