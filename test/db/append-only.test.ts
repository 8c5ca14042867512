// Each append-only rule, tried by the table owner (a superuser), whom no
// privilege stops: only the triggers of 0002_append_only stand in the way.
// Content columns cannot change on pending or sealed rows (AC001), DELETE is
// refused (AC002) and so is TRUNCATE (AC003); the data is unchanged afterwards.
// Writing the chain columns alone is what sealing does, and is allowed.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestDatabase } from '../support/database.ts';
import { connectAs, expectSqlState, readRoles, rowSnapshot } from './helpers.ts';

const db = await createTestDatabase();
const roles = await readRoles(db.pool);

const CHAIN_COLUMNS = ['prev_checksum', 'checksum', 'checksum_version', 'pii_digest', 'pii_salt'];

/** A new value for every content column; the test below fails when a column is added without one. */
const NEW_VALUES: Record<string, string> = {
  id: 'gen_random_uuid()',
  org_id: 'gen_random_uuid()',
  chain_seq: 'default',
  occurred_at: "now() - interval '1 day'",
  recorded_at: "now() - interval '1 day'",
  actor_type: "'forged'",
  actor_id: "'forged'",
  actor_email: "'forged@example.com'",
  action: "'forged'",
  resource_type: "'forged'",
  resource_id: "'forged'",
  resource_name: "'forged'",
  details: `'{"forged": true}'`,
  ip_address: "'203.0.113.9'",
  user_agent: "'forged'",
  result: "'denied'",
  error_message: "'forged'",
};

let sealer: pg.Client;
let pendingId: string;
let sealedId: string;

async function insertFullRow(): Promise<string> {
  const result = await db.pool.query<{ id: string }>(
    `insert into audit_logs (org_id, actor_type, actor_id, actor_email, action, resource_type, resource_id, resource_name,
       details, ip_address, user_agent, result, error_message)
     values ($1, 'user', 'u-1', 'u1@example.com', 'document.share', 'document', 'd-1', 'Q3 plan',
       '{"shared_with": "b@example.com"}', '192.0.2.10', 'Mozilla/5.0', 'failure', 'quota exceeded')
     returning id`,
    [randomUUID()],
  );
  return result.rows[0]!.id;
}

async function tableDigest(): Promise<string> {
  const result = await db.pool.query<{ digest: string }>(
    "select md5(coalesce(string_agg(to_jsonb(a)::text, ',' order by chain_seq), '')) as digest from audit_logs a",
  );
  return result.rows[0]!.digest;
}

beforeAll(async () => {
  sealer = await connectAs(db.url, roles.sealer);
  pendingId = await insertFullRow();
  sealedId = await insertFullRow();
  await sealer.query("update audit_logs set prev_checksum = repeat('0', 64), checksum = repeat('a', 64), checksum_version = 1 where id = $1", [sealedId]);
});
afterAll(async () => {
  await sealer.end();
});

test('the list of content columns covers every column that is not a chain column', async () => {
  const result = await db.pool.query<{ column_name: string }>(
    "select column_name from information_schema.columns where table_schema = current_schema() and table_name = 'audit_logs'",
  );
  const content = result.rows.map((row) => row.column_name).filter((name) => !CHAIN_COLUMNS.includes(name));
  expect(content.sort()).toEqual(Object.keys(NEW_VALUES).sort());
});

describe.each([
  ['a pending row', () => pendingId],
  ['a sealed row', () => sealedId],
])('on %s', (_label, rowId) => {
  test.each(Object.keys(NEW_VALUES))('UPDATE of %s is refused with AC001, naming the rule', async (column) => {
    const before = await rowSnapshot(db.pool, rowId());
    const error = await expectSqlState(
      db.pool.query(`update audit_logs set ${column} = ${NEW_VALUES[column]} where id = $1`, [rowId()]),
      'AC001',
      /audit_logs is append-only: the content of row .* cannot be changed/,
    );
    expect(error.message).toContain(rowId());
    expect(await rowSnapshot(db.pool, rowId())).toEqual(before);
  });

  test('setting a content column to NULL is refused too', async () => {
    await expectSqlState(db.pool.query('update audit_logs set details = null, actor_id = null where id = $1', [rowId()]), 'AC001');
  });

  test('an UPDATE that writes chain columns and a content column together is refused', async () => {
    const before = await rowSnapshot(db.pool, rowId());
    await expectSqlState(
      db.pool.query("update audit_logs set checksum = repeat('b', 64), prev_checksum = repeat('1', 64), checksum_version = 1, action = 'forged' where id = $1", [rowId()]),
      'AC001',
    );
    expect(await rowSnapshot(db.pool, rowId())).toEqual(before);
  });

  test('chain_seq cannot be set to a value of the caller\'s choosing', async () => {
    await expectSqlState(db.pool.query('update audit_logs set chain_seq = 1 where id = $1', [rowId()]), '428C9');
  });
});

test('an UPDATE that leaves content unchanged is not a change', async () => {
  const before = await rowSnapshot(db.pool, pendingId);
  await db.pool.query('update audit_logs set action = action, details = details where id = $1', [pendingId]);
  expect(await rowSnapshot(db.pool, pendingId)).toEqual(before);
});

test('a set-based UPDATE over many rows is refused as a whole', async () => {
  const before = await tableDigest();
  await expectSqlState(db.pool.query("update audit_logs set user_agent = 'forged'"), 'AC001');
  expect(await tableDigest()).toBe(before);
});

test('DELETE is refused with AC002, naming the rule', async () => {
  const before = await tableDigest();
  await expectSqlState(db.pool.query('delete from audit_logs where id = $1', [pendingId]), 'AC002', /audit_logs is append-only: DELETE is not allowed/);
  await expectSqlState(db.pool.query('delete from audit_logs'), 'AC002');
  await expectSqlState(db.pool.query('with gone as (delete from audit_logs returning id) select count(*) from gone'), 'AC002');
  expect(await tableDigest()).toBe(before);
});

test('TRUNCATE is refused with AC003, naming the rule', async () => {
  const before = await tableDigest();
  await expectSqlState(db.pool.query('truncate audit_logs'), 'AC003', /audit_logs is append-only: TRUNCATE is not allowed/);
  await expectSqlState(db.pool.query('truncate audit_logs restart identity cascade'), 'AC003');
  expect(await tableDigest()).toBe(before);
});

test('the sealer may write the chain columns alone', async () => {
  const id = await insertFullRow();
  const content = await db.pool.query('select to_jsonb(a) - $2::text[] as content from audit_logs a where id = $1', [id, CHAIN_COLUMNS]);
  const updated = await sealer.query(
    "update audit_logs set prev_checksum = repeat('2', 64), checksum = repeat('c', 64), checksum_version = 1, pii_digest = 'digest', pii_salt = 'salt' where id = $1",
    [id],
  );
  expect(updated.rowCount).toBe(1);
  const after = await db.pool.query('select to_jsonb(a) - $2::text[] as content, checksum from audit_logs a where id = $1', [id, CHAIN_COLUMNS]);
  expect(after.rows[0].checksum).toBe('c'.repeat(64));
  expect(after.rows[0].content).toEqual(content.rows[0].content);
});
