// The committed format v2 encodings (packages/chain/test-vectors/v2.json) are
// still exactly what PostgreSQL produces with the library's expressions, and the
// expression printed in the file is the library's.
import { readFileSync } from 'node:fs';
import { beforeAll, expect, test } from 'vitest';
import { valueSql } from '@audit-chain/chain';
import { createTestDatabase } from '../support/database.ts';

const db = await createTestDatabase();
const vectors = JSON.parse(readFileSync(new URL('../../packages/chain/test-vectors/v2.json', import.meta.url), 'utf8')) as {
  encodings: { type: string; literal: string; sql: string; text: string | null }[];
};

beforeAll(async () => {
  await db.pool.query(`create type v2_vector_mood as enum ('happy', 'with space')`);
});

test.each(vectors.encodings.map((e, i) => [i, e.type, e.literal, e] as const))('encoding %i: %s %s', async (_i, type, literal, encoding) => {
  const read = valueSql('x.v', type);
  expect(read.replaceAll('(x.v)', '(c)').replaceAll('x.v', 'c')).toBe(encoding.sql);
  const client = await db.pool.connect();
  try {
    await client.query('begin');
    await client.query(`set local TimeZone = 'Pacific/Chatham'; set local DateStyle = 'SQL, DMY'; set local IntervalStyle = 'sql_standard'; set local extra_float_digits = -3; set local bytea_output = 'escape'`);
    const result = await client.query<{ t: string | null }>(`select ${read} as t from (select (${literal})::${type} as v) x`);
    expect(result.rows[0]!.t).toBe(encoding.text);
    await client.query('rollback');
  } finally {
    client.release();
  }
});
