// The verifier's fast read (packages/verification/src/raw-segment.ts) takes a
// timestamptz's plain output (TimeZone 'UTC', DateStyle 'ISO') and makes its
// format v2 text in Node (timestamptzFromIsoUtc). Property test against a real
// server: for generated values over timestamptz's whole range (BC years, years
// past 9999, infinities, fractions with trailing zeros) the text made in Node is
// byte for byte the text of the SQL expression the sealer hashes; and any other
// output style is refused rather than misread.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type pg from 'pg';
import { CanonicalFormError, timestamptzFromIsoUtc, valueSql } from '@audit-chain/chain';
import { connect, createTestDatabase } from '../support/database.ts';
import { PROBE_COLUMNS, timestampValue } from './generators.ts';

const db = await createTestDatabase();
const RUNS = Number(process.env.FORMAT_V2_RUNS ?? 60);
const castSql = PROBE_COLUMNS.find((column) => column.type === 'timestamp with time zone')!.castSql;
// Fractions with trailing zeros, none at all, and the last microsecond of a day, on both sides of year 1.
const edges = fc.constantFrom('epoch|0|0', 'epoch|0|120000', 'epoch|0|100000000', 'epoch|-719163|86399999999', 'epoch|-719163|0', 'epoch|-719529|500', 'epoch|-2440587|0', 'epoch|106741000|999999');

let client: pg.Client;
beforeAll(async () => {
  client = await connect(db.url);
});
afterAll(async () => {
  await client.end();
});

async function bothTexts(values: string[]): Promise<{ plain: string; canonical: string }[]> {
  await client.query('begin');
  try {
    // Settings that change the plain output, to show the reader's own settings win.
    await client.query("set local timezone = 'America/St_Johns'");
    await client.query("set local datestyle = 'SQL, DMY'");
    const stored = await client.query<{ t: string }>(`select (${castSql('x')})::text as t from unnest($1::text[]) with ordinality u(x, o) order by o`, [values]);
    expect(stored.rows).toHaveLength(values.length);
    await client.query("set local timezone = 'UTC'");
    await client.query("set local datestyle = 'ISO, YMD'");
    const result = await client.query<{ plain: string; canonical: string }>(
      `with v as (select ${castSql('x')} as t, o from unnest($1::text[]) with ordinality u(x, o))
       select t::text as plain, ${valueSql('t', 'timestamp with time zone')} as canonical from v order by o`,
      [values],
    );
    return result.rows;
  } finally {
    await client.query('rollback');
  }
}

describe('timestamptzFromIsoUtc', () => {
  test('gives the SQL canonical text of every generated timestamptz', async () => {
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(timestampValue, edges), { minLength: 1, maxLength: 40 }), async (values) => {
        for (const { plain, canonical } of await bothTexts(values)) {
          expect(timestamptzFromIsoUtc(plain)).toBe(canonical);
          checked += 1;
        }
      }),
      { numRuns: RUNS },
    );
    expect(checked).toBeGreaterThan(RUNS);
  });

  test('refuses output in any other zone or style', () => {
    for (const text of [
      '2026-11-23 01:02:03.4567+01',
      '2026-11-23 01:02:03.4567-03:30',
      '2026-11-23T01:02:03.4567Z',
      'Mon Nov 23 01:02:03.4567 2026 UTC',
      '23/11/2026 01:02:03.4567 UTC',
      '2026-11-23 01:02:03.4567',
      '2026-11-23 01:02:03.1234567+00',
      '026-11-23 01:02:03+00',
      'Infinity',
      '',
    ]) {
      expect(() => timestamptzFromIsoUtc(text), text).toThrow(CanonicalFormError);
    }
  });
});
