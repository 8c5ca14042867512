// Erasure (audit-chain redact) on a Citus cluster, audit_logs distributed by
// org_id: the redactor role erases the personal fields of a sealed row on
// either worker, keeping the salted digest and the links, so the chain still
// verifies; the marker (a reference table row) carries the distributed
// transaction's token, which the shard's append-only trigger compares. A marker
// written in another transaction, a direct erasure, and bad requests are refused
// on the shards and leave the row as it was.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LifecycleError, redactRow } from '@audit-chain/lifecycle';
import { sealOnce } from '@audit-chain/sealing';
import { verifyChains } from '@audit-chain/verification';
import { insertRows } from '../support/audit-rows.ts';
import { connect } from '../support/database.ts';
import { createPool } from '@audit-chain/db';
import { randomBytes } from 'node:crypto';
import { connectAs, readRoles } from '../db/helpers.ts';
import { runCli } from '../tamper/support.ts';
import { createCitusDatabase } from './cluster.ts';
import { orgsOnDifferentWorkers, shardOf, workerUrlOf } from './shards.ts';

const db = await createCitusDatabase({ shardCount: 8 });
const roles = await readRoles(db.pool);
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-citus-erasure-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const [orgA, orgB] = await orgsOnDifferentWorkers(db.pool);
const ids: Record<string, string[]> = {};

async function seal(): Promise<void> {
  const result = await sealOnce(db.pool, { batchSize: 500, waitMs: 10_000, pollMs: 20 });
  expect(result.broken).toEqual([]);
}

async function verifyAll() {
  return verifyChains(db.pool, { keyring: null, checkpointSources: { directories: [], table: false } });
}

async function rowById(id: string) {
  const result = await db.pool.query('select actor_email, ip_address, user_agent, pii_salt, pii_digest, checksum, prev_checksum, action from audit_logs where id = $1', [id]);
  return result.rows[0] as Record<string, unknown>;
}

/** Every row of both chains, to show a refused request changed nothing. */
async function snapshot(): Promise<unknown[]> {
  return (await db.pool.query('select * from audit_logs where org_id = any($1::uuid[]) order by chain_seq', [[orgA, orgB]])).rows;
}

beforeAll(async () => {
  expect((await shardOf(db.pool, orgA)).nodeport).not.toBe((await shardOf(db.pool, orgB)).nodeport);
  for (const org of [orgA, orgB]) await insertRows(db.pool, org, 12);
  await seal();
  for (const org of [orgA, orgB]) {
    ids[org] = (await db.pool.query<{ id: string }>('select id::text from audit_logs where org_id = $1 order by chain_seq', [org])).rows.map((row) => row.id);
  }
});

describe('redaction on Citus', () => {
  test('a row on each worker: the fields and the salt are erased, the digest and the links stay, the redaction is an audit row of the same chain', async () => {
    for (const org of [orgA, orgB]) {
      const id = ids[org]![4]!;
      const before = await rowById(id);
      expect(before.actor_email).not.toBeNull();
      const result = await redactRow(db.pool, { rowId: id, fields: ['actor_email', 'ip_address', 'user_agent'], reason: 'erasure request' });
      expect(result.orgId).toBe(org);
      expect(result.erased).toEqual(['actor_email', 'ip_address', 'user_agent']);
      expect(await rowById(id)).toEqual({ ...before, actor_email: null, ip_address: null, user_agent: null, pii_salt: null });
      const audit = await db.pool.query<{ org_id: string; action: string; resource_id: string }>('select org_id::text, action, resource_id from audit_logs where id = $1', [result.auditRowId]);
      expect(audit.rows).toEqual([{ org_id: org, action: 'audit_log.redact', resource_id: id }]);
      const marker = await db.pool.query('select org_id::text, fields, reason from audit_chain_redactions where row_id = $1', [id]);
      expect(marker.rows).toEqual([{ org_id: org, fields: ['actor_email', 'ip_address', 'user_agent'], reason: 'erasure request' }]);
    }
  });

  test('verify afterwards is clean and counts the redacted rows; the redaction audit rows seal on top', async () => {
    await seal();
    const report = await verifyAll();
    expect(report.breaks).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.totals.redacted).toBe(2);
  });

  test('`audit-chain redact --id` works through the coordinator, exit 0', async () => {
    const id = ids[orgB]![7]!;
    const run = await runCli(['redact', '--id', id, '--fields', 'actor_email,ip_address,user_agent', '--reason', 'cli'], { DATABASE_URL: db.url, AUDIT_CHAIN_DATA_DIR: dir });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^redacted row ${id} \\(chain ${orgB}, chain_seq \\d+\\)`));
    expect((await rowById(id)).actor_email).toBeNull();
    await seal();
    expect((await verifyAll()).ok).toBe(true);
  });

  test('bad requests are refused and change nothing: unknown row, unknown field, a field left holding a value, already redacted, pending row', async () => {
    const [pending] = await insertRows(db.pool, orgA, 1, 'pending.row');
    const pendingId = (await db.pool.query<{ id: string }>('select id::text from audit_logs where org_id = $1 and chain_seq = $2', [orgA, pending!.toString()])).rows[0]!.id;
    const before = await snapshot();
    const cases: [string, readonly string[], RegExp][] = [
      ['00000000-0000-4000-8000-000000000000', ['actor_email', 'ip_address', 'user_agent'], /got 0 rows with this id, want exactly one/],
      [ids[orgA]![1]!, ['actor_email', 'password'], /--fields: got password/],
      [ids[orgA]![1]!, ['actor_email'], /still holds ip_address, user_agent/],
      [ids[orgA]![4]!, ['actor_email', 'ip_address', 'user_agent'], /is already redacted/],
      [pendingId, ['actor_email', 'ip_address', 'user_agent'], /is pending/],
    ];
    for (const [rowId, fields, message] of cases) {
      const refused = await redactRow(db.pool, { rowId, fields }).then(() => null, (error: unknown) => error as Error);
      expect(refused, `${rowId} ${fields.join(',')}`).not.toBeNull();
      expect(refused!.message).toMatch(message);
      if (/--fields/.test(message.source)) expect(refused).toBeInstanceOf(LifecycleError);
    }
    expect(await snapshot()).toEqual(before);
    await seal();
  });

  test('an erasure without its own marker is refused on the shard (AC001): directly, and with a marker recorded in an earlier transaction', async () => {
    const id = ids[orgA]![8]!;
    const before = await snapshot();
    await expect(
      db.pool.query('update audit_logs set actor_email = null, ip_address = null, user_agent = null, pii_salt = null where org_id = $1 and id = $2', [orgA, id]),
    ).rejects.toThrow(/append-only/);
    // A marker written in one transaction (through the coordinator, as a superuser can) does not let a later one erase.
    const row = (await db.pool.query<{ chain_seq: string }>('select chain_seq::text from audit_logs where id = $1', [id])).rows[0]!;
    await db.pool.query(
      `insert into audit_chain_redactions (chain_seq, row_id, org_id, fields, redacted_by, xact_id, audit_row_id)
       values ($1, $2, $3, '{actor_email}', 'forger', audit_chain_xact_token(), $2)`,
      [row.chain_seq, id, orgA],
    );
    const client = await connect(db.url, 'forger');
    try {
      await client.query('begin');
      await expect(
        client.query('update audit_logs set actor_email = null, ip_address = null, user_agent = null, pii_salt = null where org_id = $1 and id = $2', [orgA, id]),
      ).rejects.toThrow(/append-only/);
      await client.query('rollback');
    } finally {
      await client.end();
    }
    await db.pool.query('delete from audit_chain_redactions where row_id = $1', [id]);
    expect(await snapshot()).toEqual(before);
  });

  test('only the redactor role may redact: the writer role is refused, nothing changes', async () => {
    const before = await snapshot();
    const writer = await connectAs(db.url, roles.writer);
    try {
      await expect(writer.query('select * from audit_chain_redact($1::uuid, $2::text[], null)', [ids[orgB]![2]!, ['actor_email', 'ip_address', 'user_agent']])).rejects.toThrow(
        /permission denied for function audit_chain_redact/,
      );
    } finally {
      await writer.end();
    }
    expect(await snapshot()).toEqual(before);
  });

  test('a login that is only a member of the redactor role redacts a row on each worker', async () => {
    const redactor = (await db.pool.query<{ role_name: string }>("select role_name from audit_chain_roles where kind = 'redactor'")).rows[0]!.role_name;
    const login = `audit_chain_dpo_${randomBytes(4).toString('hex')}`;
    await db.pool.query(`create role ${login} login`);
    await db.pool.query(`grant ${redactor} to ${login}`);
    const url = new URL(db.url);
    url.username = login;
    const pool = createPool(url.toString(), { applicationName: 'citus redaction login', max: 1 });
    try {
      for (const org of [orgA, orgB]) {
        const id = ids[org]![11]!;
        const result = await redactRow(pool, { rowId: id, fields: ['actor_email', 'ip_address', 'user_agent'] });
        expect(result.orgId).toBe(org);
        expect((await rowById(id)).actor_email).toBeNull();
      }
      // Alone it cannot erase: the UPDATE is refused.
      await expect(pool.query('update audit_logs set actor_email = null where org_id = $1 and id = $2', [orgA, ids[orgA]![10]!])).rejects.toThrow(/permission denied|append-only/);
    } finally {
      await pool.end();
      await db.pool.query(`revoke ${redactor} from ${login}`);
      await db.pool.query(`drop role ${login}`);
    }
    await seal();
    const report = await verifyAll();
    expect(report.breaks).toEqual([]);
  });

  test('a salt erased on the worker with triggers bypassed, without a marker, is reported by verify', async () => {
    const id = ids[orgB]![9]!;
    const shard = await shardOf(db.pool, orgB);
    const worker = await connect(workerUrlOf(db, shard.nodeport), 'attacker');
    try {
      await worker.query('begin');
      await worker.query('set local session_replication_role = replica');
      await worker.query('set local citus.enable_manual_changes_to_shards = on');
      const changed = await worker.query(`update ${shard.shardName} set actor_email = null, pii_salt = null where org_id = $1 and id = $2`, [orgB, id]);
      expect(changed.rowCount).toBe(1);
      await worker.query('commit');
    } finally {
      await worker.end();
    }
    const report = await verifyAll();
    expect(report.ok).toBe(false);
    expect(report.breaks.some((found) => found.orgId === orgB)).toBe(true);
    expect(report.breaks.filter((found) => found.orgId !== orgB)).toEqual([]);
  });
});
