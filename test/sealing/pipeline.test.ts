// Pipelined sealing (packages/sealing/src/seal-chain.ts): batch N+1 is read and
// linked while batch N is written. The read-ahead is used only when the chain's
// state under the lock is exactly the one it was linked after; otherwise it is
// dropped and the batch is read and linked again under the lock. Against a real
// server: the read-ahead is used, a sealer that moves the chain between the
// read-ahead and the next transaction makes it stale (no fork, no gap, no error),
// and concurrent sealers of one chain leave one clean chain.
import { describe, expect, test } from 'vitest';
import { advanceHorizonAndDiscover, HorizonTracker, sealChain, sealOnce } from '@audit-chain/sealing';
import { createTestDatabase } from '../support/database.ts';
import { insertRows, newOrgId } from '../support/audit-rows.ts';
import { checkAllChains } from '../support/chain-check.ts';

const db = await createTestDatabase();

async function discover(): Promise<void> {
  const tracker = new HorizonTracker();
  await advanceHorizonAndDiscover(db.pool, tracker);
}

async function linkUseCount(orgId: string): Promise<number> {
  // Each predecessor used once per chain (the no-fork index would refuse a second), and every sealed row has one.
  const result = await db.pool.query<{ forks: number }>(
    `select count(*)::int as forks from (select prev_checksum from audit_logs where org_id = $1 and prev_checksum is not null group by 1 having count(*) > 1) f`,
    [orgId],
  );
  return result.rows[0]!.forks;
}

describe('pipelined sealing', { timeout: 120_000 }, () => {
  test('batches after the first are the read-ahead; the chain is the one a batch-at-a-time sealer makes', async () => {
    const piped = newOrgId();
    const serial = newOrgId();
    await insertRows(db.pool, piped, 2_050);
    await insertRows(db.pool, serial, 2_050);
    await discover();
    const readAhead: boolean[] = [];
    const result = await sealChain(db.pool, piped, { batchSize: 200, onBatch: (batch) => void readAhead.push(batch.readAhead) });
    expect(result).toMatchObject({ status: 'caught_up', sealed: 2_050, batches: 11 });
    // The first batch is read under the lock; every later one was linked while its predecessor was written.
    expect(readAhead).toEqual([false, ...Array(10).fill(true)]);
    const serialAhead: boolean[] = [];
    await sealChain(db.pool, serial, { batchSize: 200, pipeline: false, onBatch: (batch) => void serialAhead.push(batch.readAhead) });
    expect(serialAhead.every((used) => !used)).toBe(true);
    const check = await checkAllChains(db.pool);
    expect(check.problems).toEqual([]);
    expect(await linkUseCount(piped)).toBe(0);
  });

  test('another sealer moves the chain between the read-ahead and the next transaction: the read-ahead is dropped', async () => {
    const org = newOrgId();
    await insertRows(db.pool, org, 1_000);
    await discover();
    const seen: { sealed: number; readAhead: boolean }[] = [];
    let interfered = false;
    const result = await sealChain(db.pool, org, {
      batchSize: 100,
      maxBatches: 4,
      onBatch: async (batch) => {
        seen.push({ sealed: batch.sealed, readAhead: batch.readAhead });
        if (!interfered) {
          interfered = true;
          // Batch 1 is committed and batch 2 was read ahead after it; a second sealer seals batch 2 first.
          const other = await sealChain(db.pool, org, { batchSize: 100, maxBatches: 1, pipeline: false });
          expect(other).toMatchObject({ sealed: 100, status: 'more' });
        }
      },
    });
    // The read-ahead of batch 2 no longer matched the chain's state: read again under the lock.
    expect(seen.map((batch) => batch.readAhead)).toEqual([false, false, true, true]);
    expect(result.sealed).toBe(400);
    const state = await db.pool.query<{ sealed_count: string }>('select sealed_count::text from audit_chain_state where org_id = $1', [org]);
    expect(state.rows[0]!.sealed_count).toBe('500');
    expect((await checkAllChains(db.pool)).problems).toEqual([]);
    expect(await linkUseCount(org)).toBe(0);
  });

  test('eight concurrent pipelined sealers of one chain leave one clean chain', async () => {
    const org = newOrgId();
    await insertRows(db.pool, org, 6_000);
    await discover();
    const results = await Promise.all(Array.from({ length: 8 }, () => sealChain(db.pool, org, { batchSize: 150 })));
    const sealed = results.reduce((sum, result) => sum + result.sealed, 0);
    // Others find the chain busy and return; whatever is left is sealed by a last pass.
    const rest = await sealChain(db.pool, org, { batchSize: 150 });
    expect(sealed + rest.sealed).toBe(6_000);
    const pending = await db.pool.query<{ n: number }>('select count(*)::int as n from audit_logs where org_id = $1 and checksum is null', [org]);
    expect(pending.rows[0]!.n).toBe(0);
    expect((await checkAllChains(db.pool)).problems).toEqual([]);
    expect(await linkUseCount(org)).toBe(0);
  });

  test('seal --once with three lanes seals every chain exactly once', async () => {
    const orgs = [newOrgId(), newOrgId(), newOrgId(), newOrgId(), newOrgId()];
    for (const [index, org] of orgs.entries()) await insertRows(db.pool, org, 300 + index * 450);
    const seen: string[] = [];
    const result = await sealOnce(db.pool, { batchSize: 250, waitMs: 0, pollMs: 10, concurrency: 3, onChain: (chain) => void seen.push(chain.orgId ?? 'system') });
    for (const org of orgs) expect(seen.filter((id) => id === org)).toHaveLength(1);
    expect(result.broken).toEqual([]);
    const pending = await db.pool.query<{ n: number }>('select count(*)::int as n from audit_logs where org_id = any($1::uuid[]) and checksum is null', [orgs]);
    expect(pending.rows[0]!.n).toBe(0);
    expect((await checkAllChains(db.pool)).problems).toEqual([]);
  });

  test('a head changed under the chain between batches: the read-ahead is not written, the chain halts', async () => {
    const org = newOrgId();
    await insertRows(db.pool, org, 600);
    await discover();
    let tampered = false;
    const seen: boolean[] = [];
    await sealChain(db.pool, org, {
      batchSize: 200,
      onBatch: async (batch) => {
        seen.push(batch.readAhead);
        if (!tampered) {
          tampered = true;
          // The watermark stays, only the head changes: the read-ahead (linked after the real head) must not be
          // used; the locked path then finds the link mismatch at the watermark and halts the chain.
          await db.pool.query(`update audit_chain_state set head_checksum = repeat('e', 64) where org_id = $1`, [org]);
        }
      },
    }).then(
      () => expect.fail('sealing went on over a changed head'),
      (error: Error) => expect(error.message).toMatch(/link mismatch at the watermark/),
    );
    expect(seen).toEqual([false]);
    const rows = await db.pool.query<{ sealed: number }>('select count(*)::int as sealed from audit_logs where org_id = $1 and checksum is not null', [org]);
    expect(rows.rows[0]!.sealed).toBe(200);
    const state = await db.pool.query<{ halted_at: Date | null }>('select halted_at from audit_chain_state where org_id = $1', [org]);
    expect(state.rows[0]!.halted_at).not.toBeNull();
  });
});
