// Erasure on an attached table (audit-chain redact --table, drizzle/0051)
// against a real PostgreSQL, on fixture product 1 attached with actor_id and
// ip_address as personal columns: the redactor role erases a sealed row's
// personal columns and salt through audit_chain_redact_attached(); the digest,
// the links and the content stay, verification passes and counts the row as
// redacted; the redaction is recorded (marker, audit row in audit_logs' system
// chain). Pending rows, content columns, NOT NULL columns and rows already
// redacted are refused with the data unchanged; the redactor cannot write the
// table itself; an erasure done any other way, or one that also changed a
// content column, is reported by verify.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, test } from 'vitest';
import { createPool } from '@audit-chain/db';
import { LifecycleError, redactAttachedRow } from '@audit-chain/lifecycle';
import { verifyAttachedTables } from '@audit-chain/verification';
import { main } from '../../apps/cli/src/main.ts';
import { createTestDatabase } from '../support/database.ts';
import { newOrgId } from '../support/audit-rows.ts';
import { connectAs, expectSqlState } from '../db/helpers.ts';
import { TABLE, attachProduct, createProduct, productPool, sealProduct, seqsOf, writeAt } from '../attach/attached-fixture.ts';

const db = await createTestDatabase();
const product = productPool(db.name);
const redactor = (await db.pool.query<{ role_name: string }>("select role_name from audit_chain_roles where kind = 'redactor'")).rows[0]!.role_name;
const orgA = newOrgId();
const orgB = newOrgId();
const times = (n: number, day: number) => Array.from({ length: n }, (_, i) => `2025-01-${String(day).padStart(2, '0')} 10:00:${String(i).padStart(2, '0')}`);
let seqs: string[] = [];

async function row(seq: string): Promise<Record<string, unknown>> {
  return (await db.pool.query('select * from public.audit_logs where audit_chain_seq = $1', [seq])).rows[0];
}

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'audit-chain', ...args], {
    env: { DATABASE_URL: db.url },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  await createProduct(db.pool);
  await writeAt(product, orgA, times(12, 1));
  await writeAt(product, orgB, times(4, 2));
  await attachProduct(db.pool);
  // The product keeps ip_address NOT NULL (default 'unknown'); erasing it needs that dropped, tested below.
  await sealProduct(db.pool);
  seqs = await seqsOf(db.pool, orgA);
  expect((await verifyAttachedTables(db.pool)).breaks).toEqual([]);
});

describe('a personal column the product declares NOT NULL', () => {
  test('is refused with one line naming it; nothing changes', async () => {
    const before = await row(seqs[2]!);
    await expect(redactAttachedRow(db.pool, { table: TABLE, row: { chainSeq: seqs[2]! }, fields: [] })).rejects.toMatchObject({ code: 'AC011', message: expect.stringMatching(/declares ip_address NOT NULL: erasing writes NULL/) });
    expect(await row(seqs[2]!)).toEqual(before);
    expect((await db.pool.query('select count(*)::int as n from audit_chain_table_redactions')).rows[0].n).toBe(0);
    await db.pool.query('alter table public.audit_logs alter column ip_address drop not null');
  });
});

describe('the redactor erases the personal columns of a sealed row', () => {
  let before: Record<string, unknown>;
  let result: Awaited<ReturnType<typeof redactAttachedRow>>;

  beforeAll(async () => {
    before = await row(seqs[5]!);
    result = await redactAttachedRow(db.pool, { table: TABLE, row: { chainSeq: seqs[5]! }, fields: [], reason: 'erasure request #88' });
  });

  test('personal columns and salt are gone; digest, links and every content column stay', async () => {
    const after = await row(seqs[5]!);
    expect(before.actor_id).toBe('user-5@example.com');
    expect(after).toEqual({ ...before, actor_id: null, ip_address: null, audit_chain_pii_salt: null });
    expect(result).toMatchObject({ table: TABLE, chainKey: orgA, chainSeq: seqs[5], erased: ['actor_id', 'ip_address'] });
  });

  test('the marker and an audit row of the system chain say who, what and why, never the erased values', async () => {
    const marker = (await db.pool.query('select chain_key, fields, reason, redacted_by, audit_row_id::text from audit_chain_table_redactions')).rows;
    expect(marker).toEqual([{ chain_key: orgA, fields: ['actor_id', 'ip_address'], reason: 'erasure request #88', redacted_by: 'postgres', audit_row_id: result.auditRowId }]);
    const audit = (await db.pool.query('select org_id, actor_type, action, resource_type, resource_id, details, chain_seq::text from audit_logs where id = $1', [result.auditRowId])).rows[0];
    expect(audit).toMatchObject({ org_id: null, actor_type: 'operator', action: 'audit_log.redact', resource_type: 'attached_row', resource_id: `${TABLE}:${seqs[5]}`, chain_seq: result.auditChainSeq });
    expect(audit.details).toEqual({ table: TABLE, chain_key: orgA, chain_seq: seqs[5], fields: ['actor_id', 'ip_address'], reason: 'erasure request #88' });
    expect(JSON.stringify(audit)).not.toContain('user-5@example.com');
  });

  test('verify stays clean and counts the row as redacted', async () => {
    const report = await verifyAttachedTables(db.pool);
    expect(report.breaks).toEqual([]);
    expect(report.chains.find((chain) => chain.chain === `${TABLE} chain ${orgA}`)).toMatchObject({ rows: 12, sealed: 12, redacted: 1 });
  });

  test('a second redaction of the row is refused', async () => {
    await expect(redactAttachedRow(db.pool, { table: TABLE, row: { chainSeq: seqs[5]! }, fields: [] })).rejects.toMatchObject({ code: 'AC011', message: expect.stringMatching(/is already redacted/) });
  });
});

describe('refused requests leave the data unchanged', () => {
  test('a content column, named or mixed with personal ones', async () => {
    const before = await row(seqs[6]!);
    for (const fields of [['action'], ['actor_id', 'ip_address', 'created_at']]) {
      await expect(redactAttachedRow(db.pool, { table: TABLE, row: { chainSeq: seqs[6]! }, fields })).rejects.toMatchObject({
        code: 'AC011',
        message: expect.stringMatching(/is not personal \(personal: actor_id, ip_address\): content columns stay covered/),
      });
    }
    expect(await row(seqs[6]!)).toEqual(before);
  });

  test('a personal column left out that still holds a value', async () => {
    await expect(redactAttachedRow(db.pool, { table: TABLE, row: { chainSeq: seqs[6]! }, fields: ['actor_id'] })).rejects.toMatchObject({ code: 'AC011', message: expect.stringMatching(/still holds ip_address/) });
  });

  test('a pending row (written after the last seal): seal it first', async () => {
    await writeAt(product, orgA, ['2025-01-01 11:00:00']);
    const pending = (await seqsOf(db.pool, orgA)).at(-1)!;
    const before = await row(pending);
    await expect(redactAttachedRow(db.pool, { table: TABLE, row: { chainSeq: pending }, fields: [] })).rejects.toMatchObject({ code: 'AC011', message: expect.stringMatching(/is pending: got watermark \d+, want the row sealed first/) });
    expect(await row(pending)).toEqual(before);
    // Once sealed it can go.
    await sealProduct(db.pool);
    await redactAttachedRow(db.pool, { table: TABLE, row: { chainSeq: pending }, fields: [] });
    expect((await verifyAttachedTables(db.pool)).breaks).toEqual([]);
  });

  test('no such row, a table that is not attached, our own table', async () => {
    await expect(redactAttachedRow(db.pool, { table: TABLE, row: { chainSeq: '999999999' }, fields: [] })).rejects.toMatchObject({ code: 'AC011', message: expect.stringMatching(/got 0 rows, want exactly one/) });
    await expect(redactAttachedRow(db.pool, { table: 'pg_catalog.pg_class', row: { chainSeq: '1' }, fields: [] })).rejects.toThrow(/is not an attached table/);
    await expect(redactAttachedRow(db.pool, { table: 'audit_chain.audit_logs', row: { chainSeq: '1' }, fields: [] })).rejects.toThrow(/audit-chain's own table: run the command without --table/);
    await expect(redactAttachedRow(db.pool, { table: TABLE, row: { chainSeq: 'x' }, fields: [] })).rejects.toThrow(LifecycleError);
  });
});

describe('the command line', () => {
  test('redact --table --id erases by the primary key and prints where it is recorded', async () => {
    const id = (await row(seqs[8]!)).id as string;
    const result = await runCli(['redact', '--table', TABLE, '--id', id, '--reason', 'ticket 9']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^redacted row chain_seq ${seqs[8]} of ${TABLE.replace('.', '\\.')} chain ${orgA}: erased actor_id, ip_address and the pii salt\\nrecorded as audit row [0-9a-f-]{36} of audit_logs' system chain \\(chain_seq \\d+\\)\\n$`));
    expect((await verifyAttachedTables(db.pool)).breaks).toEqual([]);
  });

  test('a refusal exits 1 with one line; bad selections too', async () => {
    const refused = await runCli(['redact', '--table', TABLE, '--seq', seqs[8]!]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^audit-chain: redact: public\.audit_logs row chain_seq \d+ is already redacted\n$/);
    const content = await runCli(['redact', '--table', TABLE, '--seq', seqs[9]!, '--fields', 'metadata']);
    expect(content.code).toBe(1);
    expect(content.stderr).toMatch(/^audit-chain: redact: metadata of public\.audit_logs is not personal/);
    const both = await runCli(['redact', '--table', TABLE, '--seq', seqs[9]!, '--id', 'x']);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/^audit-chain: want exactly one of --id <primary key> and --seq <chain_seq>/);
    const seqAlone = await runCli(['redact', '--seq', '1']);
    expect(seqAlone.code).toBe(1);
    expect(seqAlone.stderr).toMatch(/--seq selects a row of an attached table: give --table too/);
  });
});

describe('as an attacker', () => {
  test('the redactor role cannot write the table, nor the markers, itself', async () => {
    const client = await connectAs(db.url, redactor);
    try {
      await expectSqlState(client.query('update public.audit_logs set actor_id = null where audit_chain_seq = $1', [seqs[1]]), '42501');
      await expectSqlState(client.query("insert into audit_chain_table_redactions (table_id, chain_seq, fields, redacted_by, audit_row_id) values (1, 1, '{}', 'x', gen_random_uuid())"), '42501');
    } finally {
      await client.end();
    }
  });

  test('a login that is not a member of the redactor role gets one line naming the missing grant', async () => {
    const outsider = `lc_outsider_${randomBytes(4).toString('hex')}`;
    await db.pool.query(`create role ${outsider} login`);
    const url = new URL(db.url);
    url.username = outsider;
    const pool = createPool(url.toString(), { applicationName: 'outsider', max: 1 });
    try {
      await db.pool.query(`grant usage on schema audit_chain to ${outsider}; grant select on audit_chain_tables, audit_chain_table_columns, audit_chain_roles to ${outsider}`);
      await expect(redactAttachedRow(pool, { table: TABLE, row: { chainSeq: seqs[1]! }, fields: [] })).rejects.toThrow(/may not act as the redactor role/);
    } finally {
      await pool.end();
      await db.pool.query(`drop owned by ${outsider}; drop role ${outsider}`);
    }
    expect((await row(seqs[1]!)).actor_id).toBe('user-1@example.com');
  });

  test('personal columns erased without the marker are reported', async () => {
    await db.pool.query('update public.audit_logs set actor_id = null, ip_address = null, audit_chain_pii_salt = null where audit_chain_seq = $1', [seqs[3]]);
    const report = await verifyAttachedTables(db.pool);
    expect(report.breaks.map((found) => [found.kind, found.chainSeq])).toEqual([['content_changed', seqs[3]]]);
    expect(report.breaks[0]!.message).toMatch(/pii_salt is missing on a row not marked redacted/);
  });

  test('a marker forged for a row whose personal values are still there is reported', async () => {
    const audit = (await db.pool.query<{ id: string }>('select id from audit_logs limit 1')).rows[0]!.id;
    const table = (await db.pool.query<{ id: number }>("select id from audit_chain_tables where table_name = 'audit_logs' and schema_name = 'public'")).rows[0]!.id;
    await db.pool.query("insert into audit_chain_table_redactions (table_id, chain_seq, chain_key, fields, redacted_by, audit_row_id) values ($1, $2, $3, '{actor_id}', 'forger', $4)", [table, seqs[4], orgA, audit]);
    const report = await verifyAttachedTables(db.pool);
    expect(report.breaks.map((found) => [found.kind, found.chainSeq])).toEqual([['content_changed', seqs[3]], ['content_changed', seqs[4]]]);
    expect(report.breaks[1]!.message).toMatch(/marked redacted but still has actor_id, ip_address/);
  });

  test('a redaction that also changed a content column is caught', async () => {
    // The redacted row of seqs[5]: its personal values are legitimately gone; a content change on top is not.
    await db.pool.query("update public.audit_logs set resource = 'other-doc' where audit_chain_seq = $1", [seqs[5]]);
    const report = await verifyAttachedTables(db.pool);
    expect(report.breaks.find((found) => found.chainSeq === seqs[5])).toMatchObject({ kind: 'content_changed', message: expect.stringMatching(/checksum does not recompute/) });
  });
});
