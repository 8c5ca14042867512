// Erasure (audit-chain redact, drizzle/0016_erasure.sql) against a real
// PostgreSQL: the redactor role erases the personal fields of a sealed row
// through audit_chain_redact(); verification still passes and counts the row as
// redacted; the redaction is an audit row of the same chain; nobody else, not
// even the table owner, can erase or change personal fields another way; and a
// salt erased without the marker is reported.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LifecycleError, redactRow } from '@audit-chain/lifecycle';
import { sealOnce } from '@audit-chain/sealing';
import { verifyChains } from '@audit-chain/verification';
import { createTestDatabase } from '../support/database.ts';
import { insertRows, newOrgId } from '../support/audit-rows.ts';
import { connectAs, expectSqlState, readRoles, rowSnapshot } from '../db/helpers.ts';

const db = await createTestDatabase();
const roles = await readRoles(db.pool);
const redactor = (await db.pool.query<{ role_name: string }>("select role_name from audit_chain_roles where kind = 'redactor'")).rows[0]!.role_name;

const org = newOrgId();
let rowIds: string[] = [];

async function seal(): Promise<void> {
  const result = await sealOnce(db.pool, { batchSize: 500, waitMs: 5000, pollMs: 20 });
  expect(result.broken).toEqual([]);
}

async function verifyAll() {
  return verifyChains(db.pool, { keyring: null, checkpointSources: { directories: [], table: false } });
}

async function rowById(id: string) {
  const result = await db.pool.query('select actor_email, ip_address, user_agent, pii_salt, pii_digest, checksum, prev_checksum, action from audit_logs where id = $1', [id]);
  return result.rows[0];
}

beforeAll(async () => {
  await insertRows(db.pool, org, 20);
  await insertRows(db.pool, null, 3);
  await seal();
  rowIds = (await db.pool.query<{ id: string }>('select id from audit_logs where org_id = $1 order by chain_seq', [org])).rows.map((row) => row.id);
});

describe('the redactor role erases the personal fields of a sealed row', () => {
  let before: Record<string, unknown>;
  let result: Awaited<ReturnType<typeof redactRow>>;

  beforeAll(async () => {
    before = await rowById(rowIds[5]!);
    result = await redactRow(db.pool, { rowId: rowIds[5]!, fields: ['actor_email', 'ip_address', 'user_agent'], reason: 'GDPR erasure request #4711' });
  });

  test('the fields and the salt are gone, the digest and the links stay', async () => {
    const after = await rowById(rowIds[5]!);
    expect(after).toEqual({ ...before, actor_email: null, ip_address: null, user_agent: null, pii_salt: null });
    expect(before.actor_email).not.toBeNull();
    expect(result.erased).toEqual(['actor_email', 'ip_address', 'user_agent']);
  });

  test('the marker and an audit row in the same chain say who, what and why, never the erased values', async () => {
    const marker = await db.pool.query('select row_id::text, org_id::text, fields, reason, redacted_by, audit_row_id::text from audit_chain_redactions');
    expect(marker.rows).toEqual([
      { row_id: rowIds[5], org_id: org, fields: ['actor_email', 'ip_address', 'user_agent'], reason: 'GDPR erasure request #4711', redacted_by: 'postgres', audit_row_id: result.auditRowId },
    ]);
    const audit = (await db.pool.query('select org_id::text, actor_type, actor_id, action, resource_type, resource_id, details, to_jsonb(a)::text as whole from audit_logs a where id = $1', [result.auditRowId])).rows[0];
    expect(audit).toMatchObject({
      org_id: org,
      actor_type: 'operator',
      actor_id: 'postgres',
      action: 'audit_log.redact',
      resource_type: 'audit_log',
      resource_id: rowIds[5],
      details: { chain_seq: result.chainSeq, fields: ['actor_email', 'ip_address', 'user_agent'], reason: 'GDPR erasure request #4711' },
    });
    for (const erased of [before.actor_email, before.ip_address, before.user_agent]) expect(audit.whole).not.toContain(String(erased));
  });

  test('verification passes and reports the row as redacted, once the audit row is sealed too', async () => {
    await seal();
    const report = await verifyAll();
    expect(report.breaks).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.totals.redacted).toBe(1);
    expect(report.totals.sealed).toBe(24);
  });

  test('redacting it again is refused', async () => {
    await expectSqlState(redactRow(db.pool, { rowId: rowIds[5]!, fields: ['actor_email', 'ip_address', 'user_agent'] }), 'AC011', /already redacted/);
  });
});

describe('what redaction refuses', () => {
  test('a pending row: its digest must be sealed before the values go', async () => {
    const [seq] = await insertRows(db.pool, org, 1);
    const id = (await db.pool.query<{ id: string }>('select id from audit_logs where chain_seq = $1', [seq!.toString()])).rows[0]!.id;
    await expectSqlState(redactRow(db.pool, { rowId: id, fields: ['actor_email', 'ip_address', 'user_agent'] }), 'AC011', /pending/);
    await seal();
  });

  test('leaving a personal field that holds a value: the erased salt would no longer cover it', async () => {
    await expectSqlState(redactRow(db.pool, { rowId: rowIds[6]!, fields: ['actor_email'] }), 'AC011', /still holds ip_address, user_agent/);
    expect((await rowById(rowIds[6]!)).pii_salt).not.toBeNull();
  });

  test('a field that is not personal data', async () => {
    await expect(redactRow(db.pool, { rowId: rowIds[6]!, fields: ['action'] })).rejects.toThrow(LifecycleError);
  });

  test('an unknown row', async () => {
    await expectSqlState(redactRow(db.pool, { rowId: '00000000-0000-4000-8000-000000000000', fields: ['actor_email'] }), 'AC011', /got 0 rows/);
  });
});

describe('only the redaction path may touch personal fields', () => {
  let clients: pg.Client[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end()));
  });

  test.each(['writer', 'sealer', 'admin'] as const)('the %s role may not call audit_chain_redact', async (kind) => {
    const client = await connectAs(db.url, roles[kind]);
    clients.push(client);
    await expectSqlState(client.query("select * from audit_chain_redact($1, '{actor_email,ip_address,user_agent}', null)", [rowIds[7]]), '42501');
  });

  test('the redactor role itself cannot UPDATE audit rows directly', async () => {
    const client = await connectAs(db.url, redactor);
    clients.push(client);
    await expectSqlState(client.query('update audit_logs set actor_email = null where id = $1', [rowIds[7]]), '42501');
  });

  test('the table owner cannot erase personal fields without the redaction path (AC001)', async () => {
    const snapshot = await rowSnapshot(db.pool, rowIds[7]!);
    await expectSqlState(
      db.pool.query('update audit_logs set actor_email = null, ip_address = null, user_agent = null, pii_salt = null where id = $1', [rowIds[7]]),
      'AC001',
    );
    await expectSqlState(db.pool.query("update audit_logs set actor_email = 'someone-else@example.com' where id = $1", [rowIds[7]]), 'AC001');
    expect(await rowSnapshot(db.pool, rowIds[7]!)).toEqual(snapshot);
  });

  test('a redaction marker of another transaction does not open the way', async () => {
    const snapshot = await rowSnapshot(db.pool, rowIds[5]!);
    // rowIds[5] has a marker from an earlier transaction: an owner's UPDATE still fails.
    await expectSqlState(db.pool.query("update audit_logs set actor_email = 'back@example.com' where id = $1", [rowIds[5]]), 'AC001');
    expect(await rowSnapshot(db.pool, rowIds[5]!)).toEqual(snapshot);
  });
});

test('a salt erased without the marker is reported by verification', async () => {
  const sealer = await connectAs(db.url, roles.sealer);
  try {
    // The sealer may not rewrite a sealed row's chain columns (0036_sealed_links)...
    await expectSqlState(sealer.query('update audit_logs set pii_salt = null where id = $1', [rowIds[9]]), 'AC021');
  } finally {
    await sealer.end();
  }
  // ...but a superuser with the triggers off can: verification must catch it.
  const attacker = await db.pool.connect();
  try {
    await attacker.query('begin');
    await attacker.query('set local session_replication_role = replica');
    await attacker.query('update audit_logs set pii_salt = null where id = $1', [rowIds[9]]);
    await attacker.query('commit');
  } finally {
    attacker.release();
  }
  const report = await verifyAll();
  expect(report.ok).toBe(false);
  const seq = (await db.pool.query<{ chain_seq: string }>('select chain_seq::text from audit_logs where id = $1', [rowIds[9]])).rows[0]!.chain_seq;
  expect(report.breaks).toEqual([expect.objectContaining({ kind: 'content_changed', chainSeq: seq, rowId: rowIds[9], message: expect.stringMatching(/pii_salt is missing on a row not marked redacted/) })]);
  expect(report.totals.redacted).toBe(1);
});
