// Issue 3, adversarial cases 5: a worker killed with SIGKILL mid-batch, and its
// backends terminated mid-batch. Sealing is one transaction per batch, so the
// chain must show either the whole batch or none of it, and a restarted worker
// must leave the already sealed prefix exactly as it was.
import { afterEach, describe, expect, test } from 'vitest';
import { createTestDatabase } from '../support/database.ts';
import { insertRows, newOrgId, waitFor } from '../support/audit-rows.ts';
import { checkAllChains, pendingCount } from '../support/chain-check.ts';
import { spawnWorker, type WorkerProcess } from '../support/worker-process.ts';

const db = await createTestDatabase();
const workers: WorkerProcess[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.kill('SIGKILL')));
});

const workerEnv = { AUDIT_CHAIN_SEAL_BATCH_SIZE: '1000', AUDIT_CHAIN_SEAL_POLL_MS: '50', AUDIT_CHAIN_SEAL_CONCURRENCY: '2' };

/** Every row at or below its chain's watermark has links; none above it has. */
async function batchBoundaries(): Promise<{ unlinkedBelow: number; linkedAbove: number }> {
  const result = await db.pool.query<{ unlinked_below: number; linked_above: number }>(
    `select count(*) filter (where a.chain_seq <= coalesce(s.watermark_seq, 0) and a.checksum is null)::int as unlinked_below,
            count(*) filter (where a.chain_seq > coalesce(s.watermark_seq, 0) and a.checksum is not null)::int as linked_above
       from audit_logs a
       left join audit_chain_state s
         on coalesce(s.org_id, '00000000-0000-0000-0000-000000000000'::uuid) = coalesce(a.org_id, '00000000-0000-0000-0000-000000000000'::uuid)`,
  );
  return { unlinkedBelow: result.rows[0]!.unlinked_below, linkedAbove: result.rows[0]!.linked_above };
}

async function sealedChecksums(): Promise<Map<string, string>> {
  const result = await db.pool.query<{ id: string; checksum: string }>(`select id::text, checksum from audit_logs where checksum is not null`);
  return new Map(result.rows.map((row) => [row.id, row.checksum]));
}

describe('crashes mid-batch', { timeout: 120_000 }, () => {
  test('SIGKILL mid-batch leaves whole batches only, and a restarted worker keeps the sealed prefix identical', async () => {
    const hot = newOrgId();
    await insertRows(db.pool, hot, 30_000);
    for (let index = 0; index < 5; index += 1) await insertRows(db.pool, newOrgId(), 500);
    const total = 32_500;

    const first = spawnWorker(db.url, workerEnv);
    workers.push(first);
    await waitFor('sealing to be under way', async () => {
      const pending = await pendingCount(db.pool);
      return pending < total && pending > 5000;
    }, 30_000, 20);
    expect(await first.kill('SIGKILL')).toBeNull();

    expect(await batchBoundaries()).toEqual({ unlinkedBelow: 0, linkedAbove: 0 });
    expect((await checkAllChains(db.pool)).problems).toEqual([]);
    const before = await sealedChecksums();
    expect(before.size).toBeGreaterThan(0);
    expect(before.size).toBeLessThan(total);

    const second = spawnWorker(db.url, workerEnv);
    workers.push(second);
    await waitFor('the restarted worker to seal everything', async () => (await pendingCount(db.pool)) === 0, 60_000, 250);
    const after = await sealedChecksums();
    expect(after.size).toBe(total);
    for (const [id, checksum] of before) expect(after.get(id)).toBe(checksum);
    expect((await checkAllChains(db.pool)).problems).toEqual([]);
  });

  test('worker backends terminated mid-batch: the batch rolls back, the worker recovers, the chain holds', async () => {
    const hot = newOrgId();
    await insertRows(db.pool, hot, 20_000);
    const worker = spawnWorker(db.url, workerEnv);
    workers.push(worker);
    let terminated = 0;
    const deadline = Date.now() + 30_000;
    while (terminated < 3 && Date.now() < deadline) {
      const result = await db.pool.query<{ ok: boolean }>(
        `select pg_terminate_backend(pid) as ok from pg_stat_activity
          where datname = current_database() and application_name like 'audit-chain worker%'
            and query like 'update audit_logs a%' and state = 'active'`,
      );
      if (result.rows.some((row) => row.ok)) {
        terminated += 1;
        expect(await batchBoundaries()).toEqual({ unlinkedBelow: 0, linkedAbove: 0 });
      }
    }
    expect(terminated).toBe(3);
    await waitFor('the worker to recover and seal everything', async () => (await pendingCount(db.pool)) === 0, 60_000, 250);
    expect((await checkAllChains(db.pool)).problems).toEqual([]);
    const halted = await db.pool.query(`select 1 from audit_chain_state where halted_at is not null`);
    expect(halted.rowCount).toBe(0);
    expect(worker.child.exitCode).toBeNull();
  });
});
