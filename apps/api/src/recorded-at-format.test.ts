// The API formats recorded_at of a created event from epoch microseconds (an
// immutable RETURNING expression, which Citus allows); it must be exactly what
// PostgreSQL's isoTimestamp (to_char, used by the listing) gives.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { createTestDatabase } from '../../../test/support/database.ts';
import { isoFromEpochMicros } from './db/insert-audit-events.ts';
import { isoTimestamp } from './db/sql.ts';

const db = await createTestDatabase();
// 0001-01-01 to 9999-12-31, in microseconds since 1970.
const MIN = -62_135_596_800_000_000n;
const MAX = 253_402_300_799_999_999n;
// v microseconds after 1970 as a timestamptz, exactly: whole days and the rest
// apart (an interval times a large number goes through float8).
const EXACT_INSTANT = "((timestamp 'epoch' + (v / 86400000000) * interval '1 day' + (v % 86400000000) * interval '1 microsecond') at time zone 'UTC')";

test('isoFromEpochMicros matches to_char for any instant from year 1 to 9999', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.bigInt({ min: MIN, max: MAX }), { minLength: 1, maxLength: 50 }), async (micros) => {
      const result = await db.pool.query<{ v: string; iso: string }>(
        `select v::text, ${isoTimestamp(EXACT_INSTANT)} as iso from unnest($1::bigint[]) v`,
        [micros.map(String)],
      );
      for (const row of result.rows) expect(isoFromEpochMicros(BigInt(row.v)), row.v).toBe(row.iso);
    }),
    { numRuns: 40 },
  );
});
