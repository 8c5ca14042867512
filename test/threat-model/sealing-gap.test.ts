// Threat model, "the sealer cannot be stalled by a gap": anyone who may call
// setval (or roll back an enormous batch) can leave a gap of any size in
// chain_seq. Discovery and sealing must jump it in bounded time, never walk it.
import { expect, test } from 'vitest';
import { sealOnce } from '@audit-chain/sealing';
import { verifyChains } from '@audit-chain/verification';
import { createTestDatabase } from '../support/database.ts';
import { insertRows, newOrgId } from '../support/audit-rows.ts';

const db = await createTestDatabase();

test('a sequence moved to 9007199254740985 does not stall sealing: the rows on both sides of the gap are sealed and verify', async () => {
  const org = newOrgId();
  const before = await insertRows(db.pool, org, 5);
  await db.pool.query(`select setval('audit_logs_chain_seq', 9007199254740985)`);
  const after = await insertRows(db.pool, org, 5);
  expect(after[0]).toBe(9007199254740986n);
  const started = Date.now();
  const result = await sealOnce(db.pool, { batchSize: 1000, waitMs: 5000, pollMs: 20 });
  expect(result.broken).toEqual([]);
  expect(result.sealed).toBe(10);
  // Walking 9e15 values 500,000 at a time would take years; a jump takes a few statements.
  expect(Date.now() - started).toBeLessThan(30_000);
  const state = await db.pool.query<{ watermark_seq: string; sealed_count: string }>(
    'select watermark_seq::text, sealed_count::text from audit_chain_state where org_id = $1',
    [org],
  );
  expect(state.rows[0]).toEqual({ watermark_seq: after.at(-1)!.toString(), sealed_count: '10' });
  const progress = await db.pool.query<{ discovered_seq: string }>('select discovered_seq::text from audit_chain_progress');
  expect(BigInt(progress.rows[0]!.discovered_seq)).toBe(after.at(-1)!);
  expect(before.at(-1)! < after[0]!).toBe(true);
  const report = await verifyChains(db.pool, { keyring: null, checkpointSources: { directories: [], table: false } });
  expect(report.breakCount).toBe(0);
  expect(report.totals.sealed).toBe(10);
});

test('a second gap after the first is jumped too, and rows written later in the gap are sealed', async () => {
  const org = newOrgId();
  await db.pool.query(`select setval('audit_logs_chain_seq', 9100000000000000)`);
  const rows = await insertRows(db.pool, org, 3);
  const result = await sealOnce(db.pool, { batchSize: 1000, waitMs: 5000, pollMs: 20 });
  expect(result.broken).toEqual([]);
  expect(result.sealed).toBe(3);
  const state = await db.pool.query<{ watermark_seq: string }>('select watermark_seq::text from audit_chain_state where org_id = $1', [org]);
  expect(state.rows[0]!.watermark_seq).toBe(rows.at(-1)!.toString());
});
