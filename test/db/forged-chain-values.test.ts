// Clients cannot supply or forge chain values: the writer role's column
// privileges leave out chain_seq and every chain column, in INSERT and COPY
// alike, and it cannot move the sequence.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestDatabase } from '../support/database.ts';
import { connectAs, expectSqlState, psql, readRoles } from './helpers.ts';

const db = await createTestDatabase();
const roles = await readRoles(db.pool);

let writer: pg.Client;
beforeAll(async () => {
  writer = await connectAs(db.url, roles.writer);
});
afterAll(async () => {
  await writer.end();
});

async function rowCount(): Promise<number> {
  const result = await db.pool.query<{ n: number }>('select count(*)::int as n from audit_logs');
  return result.rows[0]!.n;
}

const HEX = 'ab'.repeat(32);

describe('the writer role', () => {
  test('cannot supply chain_seq', async () => {
    const before = await rowCount();
    // GENERATED ALWAYS refuses a value outright...
    await expectSqlState(
      writer.query("insert into audit_logs (org_id, chain_seq, actor_type, action) values ($1, 1, 'user', 'forged')", [randomUUID()]),
      '428C9',
      /chain_seq/,
    );
    // ...and OVERRIDING SYSTEM VALUE, which a table owner could use, needs a column privilege the writer lacks.
    await expectSqlState(
      writer.query("insert into audit_logs (org_id, chain_seq, actor_type, action) overriding system value values ($1, 1, 'user', 'forged')", [randomUUID()]),
      '42501',
      /permission denied/,
    );
    await expectSqlState(
      writer.query(
        "insert into audit_logs (org_id, chain_seq, actor_type, action) overriding system value select $1, 9000000000, 'user', 'forged'",
        [randomUUID()],
      ),
      '42501',
    );
    expect(await rowCount()).toBe(before);
  });

  test.each(['prev_checksum', 'checksum', 'checksum_version', 'pii_digest', 'pii_salt'])('cannot supply %s', async (column) => {
    const before = await rowCount();
    const value = column === 'checksum_version' ? 1 : HEX;
    await expectSqlState(
      writer.query(`insert into audit_logs (org_id, actor_type, action, ${column}) values ($1, 'user', 'forged', $2)`, [randomUUID(), value]),
      '42501',
      /permission denied for table audit_logs/,
    );
    expect(await rowCount()).toBe(before);
  });

  test('cannot supply a whole forged link (prev_checksum, checksum, checksum_version) at once', async () => {
    await expectSqlState(
      writer.query(
        "insert into audit_logs (org_id, actor_type, action, prev_checksum, checksum, checksum_version) values ($1, 'user', 'forged', $2, $2, 1)",
        [randomUUID(), HEX],
      ),
      '42501',
    );
  });

  test.each([
    ['chain_seq', '123456'],
    ['checksum', HEX],
    ['prev_checksum', HEX],
  ])('cannot COPY a %s column in', async (column, value) => {
    const before = await rowCount();
    const copied = await psql(
      db.url,
      [`--command=set role "${roles.writer}"`, `--command=copy audit_logs (org_id, actor_type, action, ${column}) from stdin with (format csv)`],
      `${randomUUID()},user,forged,${value}\n`,
    );
    expect(copied.code).not.toBe(0);
    expect(copied.stderr).toMatch(/permission denied for table audit_logs/);
    expect(await rowCount()).toBe(before);
  });

  test('cannot take or move values of the chain_seq sequence', async () => {
    await expectSqlState(writer.query("select nextval('audit_logs_chain_seq')"), '42501');
    await expectSqlState(writer.query("select setval('audit_logs_chain_seq', 1)"), '42501');
    await expectSqlState(writer.query('alter sequence audit_logs_chain_seq restart with 1'), '42501');
  });

  test('still inserts, with chain_seq from the sequence and empty chain columns', async () => {
    const org = randomUUID();
    const result = await writer.query<{ chain_seq: string; prev_checksum: null; checksum: null; checksum_version: null }>(
      "insert into audit_logs (org_id, actor_type, action) values ($1, 'user', 'allowed') returning chain_seq, prev_checksum, checksum, checksum_version, pii_digest, pii_salt",
      [org],
    );
    expect(BigInt(result.rows[0]!.chain_seq)).toBeGreaterThan(0n);
    expect(result.rows[0]).toMatchObject({ prev_checksum: null, checksum: null, checksum_version: null, pii_digest: null, pii_salt: null });
  });
});
