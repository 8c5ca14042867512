import { describe, expect, test } from 'vitest';
import { withDatabaseName } from '@audit-chain/db';
import { connect, createTestDatabase, withAdmin } from '../../../test/support/database.ts';
import { insertRows, newOrgId } from '../../../test/support/audit-rows.ts';
import { checkAllChains } from '../../../test/support/chain-check.ts';
import { inject } from 'vitest';
import { sealOnce } from './seal-round.ts';

const db = await createTestDatabase();
const seal = (waitMs = 300) => sealOnce(db.pool, { batchSize: 100, waitMs, pollMs: 20 });

async function watermark(orgId: string | null): Promise<bigint> {
  const result = await db.pool.query<{ watermark_seq: string }>(
    `select watermark_seq::text from audit_chain_state where ${orgId === null ? 'org_id is null' : 'org_id = $1'}`,
    orgId === null ? [] : [orgId],
  );
  return BigInt(result.rows[0]?.watermark_seq ?? '0');
}

describe('safe horizon', () => {
  test('an open transaction holding a low chain_seq holds sealing below it, then everything seals in order', async () => {
    const org = newOrgId();
    await insertRows(db.pool, org, 3);
    const open = await connect(db.url, 'holder');
    await open.query('begin');
    const [held] = await insertRows(open, org, 1, 'held.open');
    const later = await insertRows(db.pool, org, 5);
    expect(later[0]!).toBeGreaterThan(held!);

    const first = await seal();
    expect(await watermark(org)).toBe(held! - 1n);
    expect(first.horizon).toBeLessThan(held!);
    expect(first.holders.map((holder) => holder.applicationName)).toContain('holder');
    const committed = await db.pool.query(`select count(*)::int as n from audit_logs where org_id = $1 and checksum is not null`, [org]);
    expect(committed.rows[0].n).toBe(3);

    await open.query('commit');
    await open.end();
    await seal();
    expect(await watermark(org)).toBe(later[later.length - 1]!);
    const check = await checkAllChains(db.pool);
    expect(check.problems).toEqual([]);
    const order = await db.pool.query(`select action from audit_logs where org_id = $1 order by chain_seq`, [org]);
    expect(order.rows.map((row) => row.action)[3]).toBe('held.open');
  });

  test('open transactions that wrote no audit row, here or in another database, do not hold sealing back', async () => {
    const org = newOrgId();
    const otherDb = `${db.name}_other`;
    const serverUrl = inject('serverUrl');
    await withAdmin(serverUrl, (admin) => admin.query(`create database ${otherDb}`));
    const elsewhere = await connect(withDatabaseName(serverUrl, otherDb), 'elsewhere');
    const idle = await connect(db.url, 'idle-reader');
    try {
      await elsewhere.query('begin');
      await elsewhere.query('create table t (x int)');
      await elsewhere.query('insert into t values (1)');
      await elsewhere.query('select pg_current_xact_id()');
      await idle.query('begin');
      await idle.query('select pg_current_xact_id()');
      await idle.query('select count(*) from audit_logs');
      await idle.query('create temp table scratch (x int)');

      const seqs = await insertRows(db.pool, org, 4);
      const result = await seal(2000);
      expect(result.holders).toEqual([]);
      expect(await watermark(org)).toBe(seqs[3]!);
    } finally {
      await elsewhere.query('rollback').catch(() => {});
      await idle.query('rollback').catch(() => {});
      await elsewhere.end();
      await idle.end();
      await withAdmin(serverUrl, (admin) => admin.query(`drop database if exists ${otherDb} with (force)`));
    }
  });

  test('rollbacks, savepoint rollbacks and a failing multi-row insert leave gaps that never stall sealing', async () => {
    const org = newOrgId();
    const client = await connect(db.url);
    try {
      await client.query('begin');
      await insertRows(client, org, 3);
      await client.query('rollback');

      await client.query('begin');
      await insertRows(client, org, 1, 'kept.before');
      await client.query('savepoint s');
      await insertRows(client, org, 2, 'rolled.back');
      await client.query('rollback to savepoint s');
      await insertRows(client, org, 1, 'kept.after');
      await client.query('commit');

      await expect(
        client.query(
          `insert into audit_logs (org_id, actor_type, action, result) values ($1, 'user', 'ok', 'success'), ($1, 'user', 'bad', 'not-a-result')`,
          [org],
        ),
      ).rejects.toThrow(/audit_logs_result_known/);
      const last = await insertRows(client, org, 1, 'kept.last');

      const result = await seal();
      expect(result.holders).toEqual([]);
      expect(await watermark(org)).toBe(last[0]!);
      const rows = await db.pool.query(`select action from audit_logs where org_id = $1 and checksum is not null order by chain_seq`, [org]);
      expect(rows.rows.map((row) => row.action)).toEqual(['kept.before', 'kept.after', 'kept.last']);
      expect((await checkAllChains(db.pool)).problems).toEqual([]);
    } finally {
      await client.end();
    }
  });

  test('the system chain (NULL org) seals like any other', async () => {
    const seqs = await insertRows(db.pool, null, 7);
    await seal();
    expect(await watermark(null)).toBe(seqs[6]!);
    expect((await checkAllChains(db.pool)).problems).toEqual([]);
  });
});
