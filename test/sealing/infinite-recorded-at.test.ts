// Totality: a row whose recorded_at is -infinity or infinity (PostgreSQL
// accepts both; an adopted or privileged insert may carry them) is sealed and
// verified like any other, and the lag readings still answer while it waits.
// PostgreSQL cannot subtract infinite timestamps (SQLSTATE 22008): the sealer
// once computed every row's latency that way inside its write, so such a row
// failed the batch on every retry and halted its chain. Found by the parallel
// verification property test's odd values.
import { expect, test } from 'vitest';
import { getChainLag, getLagOverview, getLagStatus } from '@audit-chain/lag';
import { HorizonTracker, advanceHorizonAndDiscover, sealOnce } from '@audit-chain/sealing';
import { verifyChains } from '@audit-chain/verification';
import { insertRows, newOrgId } from '../support/audit-rows.ts';
import { createTestDatabase } from '../support/database.ts';

const db = await createTestDatabase();

test('rows recorded at -infinity and infinity are sealed and verified, and lag reads them while they wait', async () => {
  const org = newOrgId();
  await insertRows(db.pool, org, 2);
  for (const at of ['-infinity', 'infinity']) {
    await db.pool.query(
      `insert into audit_logs (org_id, recorded_at, actor_type, actor_id, action, resource_type, resource_id)
       values ($1, $2::timestamptz, 'agent', 'a-1', 'edge.recorded', 'device', 'd-1')`,
      [org, at],
    );
  }
  await insertRows(db.pool, org, 2);

  // Discovered, not sealed: the readings that compute ages see the infinite values.
  await advanceHorizonAndDiscover(db.pool, new HorizonTracker());
  const overview = await getLagOverview(db.pool, { limit: 50 });
  const pending = overview.chains.find((chain) => chain.chain === org);
  expect(pending?.pending_rows).toBe(6);
  expect(Number.isFinite(pending?.oldest_pending?.age_seconds)).toBe(true);
  expect((await getChainLag(db.pool, org))?.chain.pending_rows).toBe(6);
  await getLagStatus(db.pool);

  const sealed = await sealOnce(db.pool, { batchSize: 3, waitMs: 0, pollMs: 10 });
  expect(sealed.sealed).toBe(6);
  const state = await db.pool.query<{ halted_at: Date | null; sealed_count: string }>(
    'select halted_at, sealed_count::text from audit_chain_state where org_id = $1',
    [org],
  );
  expect(state.rows[0]).toEqual({ halted_at: null, sealed_count: '6' });

  const report = await verifyChains(db.pool, { orgId: org, keyring: null, checkpointSources: { directories: [], table: false } });
  expect(report.breaks).toEqual([]);
  expect(report.ok).toBe(true);
  expect(report.totals.sealed).toBe(6);
  expect((await getLagOverview(db.pool, { limit: 50 })).chains.find((chain) => chain.chain === org)?.pending_rows).toBe(0);
});
