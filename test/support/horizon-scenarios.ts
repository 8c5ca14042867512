// The adversarial safe-horizon scenarios, written once and run on each
// topology: one server (packages/sealing/src/seal-horizon.test.ts) and a Citus
// cluster (test/citus/horizon.test.ts).
import type pg from 'pg';
import { expect } from 'vitest';
import { sealOnce, type SealOnceResult } from '@audit-chain/sealing';
import { insertRows, newOrgId } from './audit-rows.ts';
import { checkAllChains } from './chain-check.ts';
import { connect } from './database.ts';

export interface HorizonTarget {
  url: string;
  pool: pg.Pool;
}

export function sealFor(target: HorizonTarget): (waitMs?: number) => Promise<SealOnceResult> {
  return (waitMs = 300) => sealOnce(target.pool, { batchSize: 100, waitMs, pollMs: 20 });
}

export async function watermarkOf(target: HorizonTarget, orgId: string | null): Promise<bigint> {
  const result = await target.pool.query<{ watermark_seq: string }>(
    `select watermark_seq::text from audit_chain_state where ${orgId === null ? 'org_id is null' : 'org_id = $1'}`,
    orgId === null ? [] : [orgId],
  );
  return BigInt(result.rows[0]?.watermark_seq ?? '0');
}

/** An open transaction holding a low chain_seq holds sealing below it, then everything seals in order. */
export async function openWriterHoldsSealing(target: HorizonTarget): Promise<void> {
  const seal = sealFor(target);
  const org = newOrgId();
  await insertRows(target.pool, org, 3);
  const open = await connect(target.url, 'holder');
  await open.query('begin');
  const [held] = await insertRows(open, org, 1, 'held.open');
  const later = await insertRows(target.pool, org, 5);
  expect(later[0]!).toBeGreaterThan(held!);

  const first = await seal();
  expect(await watermarkOf(target, org)).toBe(held! - 1n);
  expect(first.horizon).toBeLessThan(held!);
  expect(first.holders.map((holder) => holder.applicationName)).toContain('holder');
  const committed = await target.pool.query('select count(*)::int as n from audit_logs where org_id = $1 and checksum is not null', [org]);
  expect(committed.rows[0].n).toBe(3);

  await open.query('commit');
  await open.end();
  await seal();
  expect(await watermarkOf(target, org)).toBe(later[later.length - 1]!);
  expect((await checkAllChains(target.pool)).problems).toEqual([]);
  const order = await target.pool.query('select action from audit_logs where org_id = $1 order by chain_seq', [org]);
  expect(order.rows.map((row) => row.action)[3]).toBe('held.open');
}

/** Rollbacks, savepoint rollbacks and a failing multi-row insert leave gaps that never stall sealing. */
export async function rollbackGapsNeverStall(target: HorizonTarget): Promise<void> {
  const seal = sealFor(target);
  const org = newOrgId();
  const client = await connect(target.url);
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
    expect(await watermarkOf(target, org)).toBe(last[0]!);
    const rows = await target.pool.query('select action from audit_logs where org_id = $1 and checksum is not null order by chain_seq', [org]);
    expect(rows.rows.map((row) => row.action)).toEqual(['kept.before', 'kept.after', 'kept.last']);
    expect((await checkAllChains(target.pool)).problems).toEqual([]);
  } finally {
    await client.end();
  }
}
