// The overview's pages come from candidates (chains that need attention or
// have held rows, plus the first others in the order of discovery's lag index)
// instead of a sort of every chain. Property: whatever the pending counts
// (ties included), seals, halted and broken chains and held rows, paging with
// any page size lists every chain exactly once, in the order recomputed here
// from the chain tables and audit_logs themselves. Real PostgreSQL; fast-check
// picks the history and the page size.
import fc from 'fast-check';
import type pg from 'pg';
import { expect, test } from 'vitest';
import { HorizonTracker, advanceHorizonAndDiscover, sealChain } from '@audit-chain/sealing';
import { connect, createTestDatabase } from '../../../test/support/database.ts';
import { insertRows, newOrgId } from '../../../test/support/audit-rows.ts';
import { decodeOverviewCursor } from './cursor.ts';
import type { ChainLag } from './types.ts';
import { getLagOverview } from './views.ts';

const db = await createTestDatabase();
const ORGS = [...Array.from({ length: 9 }, () => newOrgId()), null];

interface History {
  rows: number[];
  sealed: boolean[];
  halted: number | null;
  broken: number | null;
  held: number[];
}

const history: fc.Arbitrary<History> = fc.record({
  rows: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: ORGS.length, maxLength: ORGS.length }),
  sealed: fc.array(fc.boolean(), { minLength: ORGS.length, maxLength: ORGS.length }),
  halted: fc.option(fc.integer({ min: 0, max: ORGS.length - 1 })),
  broken: fc.option(fc.integer({ min: 0, max: ORGS.length - 1 })),
  held: fc.array(fc.integer({ min: 0, max: ORGS.length - 1 }), { maxLength: 3 }),
});

/** Every chain's sort key, from the chain tables and audit_logs (full reads: fine in a test). */
async function expectedOrder(): Promise<string[]> {
  const rows = await db.pool.query<{ chain: string }>(
    `with keys as (select org_id from audit_chain_state union select distinct org_id from audit_logs),
     figures as (
       select coalesce(k.org_id::text, 'system') as chain, coalesce(k.org_id, '00000000-0000-0000-0000-000000000000'::uuid) as chain_key,
              (s.halted_at is not null or exists (select 1 from audit_chain_verify_status v where v.org_id is not distinct from k.org_id and v.breaks_found > 0))::int as attention,
              (select count(*) from audit_logs a where a.org_id is not distinct from k.org_id and a.chain_seq > coalesce(s.watermark_seq, 0)) as pending,
              coalesce(s.last_sealed_at, d.first_seen_at,
                       (select min(a.recorded_at) from audit_logs a where a.org_id is not distinct from k.org_id and a.chain_seq > coalesce(s.watermark_seq, 0))) as since
         from keys k
         left join audit_chain_state s on s.org_id is not distinct from k.org_id
         left join audit_chain_discovery d on d.org_id is not distinct from k.org_id
     )
     select chain from figures order by attention desc, pending desc, since asc, chain_key asc`,
  );
  return rows.rows.map((row) => row.chain);
}

async function allPages(limit: number): Promise<ChainLag[]> {
  const chains: ChainLag[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 50; page += 1) {
    const overview = await getLagOverview(db.pool, { limit, cursor: cursor === null ? undefined : decodeOverviewCursor(cursor) });
    chains.push(...overview.chains);
    cursor = overview.next_cursor;
    if (cursor === null) return chains;
  }
  throw new Error('more than 50 pages');
}

test('paging lists every chain once, worst first, whatever the history and the page size', async () => {
  await fc.assert(
    fc.asyncProperty(history, fc.integer({ min: 1, max: 4 }), async (h, limit) => {
      // A fresh start for each history (the append-only trigger refuses TRUNCATE; a test may step around it).
      const reset = await db.pool.connect();
      try {
        await reset.query('begin');
        await reset.query('set local session_replication_role = replica');
        await reset.query('truncate audit_logs, audit_chain_state, audit_chain_discovery, audit_chain_verify_status');
        await reset.query('update audit_chain_progress set horizon_seq = 0, discovered_seq = 0');
        await reset.query('commit');
      } finally {
        reset.release();
      }
      const tracker = new HorizonTracker();
      const holders: pg.Client[] = [];
      try {
        for (const [n, org] of ORGS.entries()) await insertRows(db.pool, org, h.rows[n]! + 1);
        await advanceHorizonAndDiscover(db.pool, tracker);
        for (const [n, org] of ORGS.entries()) if (h.sealed[n]) await sealChain(db.pool, org, { batchSize: 2, maxBatches: 1 });
        // More rows after the seals, so sealed chains have pending rows again and times differ.
        for (const [n, org] of ORGS.entries()) if (h.rows[n]! > 1) await insertRows(db.pool, org, 1);
        await advanceHorizonAndDiscover(db.pool, tracker);
        if (h.halted !== null) await db.pool.query("update audit_chain_state set halted_at = now(), halted_reason = 'test' where org_id is not distinct from $1::uuid", [ORGS[h.halted]]);
        if (h.broken !== null) {
          const run = await db.pool.query<{ id: number }>("insert into audit_chain_verifications (trigger, status, finished_at, breaks_found) values ('manual', 'breaks', now(), 1) returning id");
          await db.pool.query('insert into audit_chain_verify_status (org_id, verification_id, rows_checked, breaks_found) values ($1, $2, 1, 1)', [ORGS[h.broken], run.rows[0]!.id]);
        }
        // Held: an open writer, then committed rows behind it.
        if (h.held.length > 0) {
          const holder = await connect(db.url, 'paging-holder');
          holders.push(holder);
          await holder.query('begin');
          await insertRows(holder, ORGS[0]!, 1);
          for (const n of h.held) await insertRows(db.pool, ORGS[n]!, 1);
          await advanceHorizonAndDiscover(db.pool, tracker);
        }
        const want = await expectedOrder();
        const paged = (await allPages(limit)).map((chain) => chain.chain);
        expect(paged).toEqual(want);
      } finally {
        for (const holder of holders) {
          await holder.query('rollback').catch(() => {});
          await holder.end();
        }
      }
    }),
    { numRuns: 20 },
  );
}, 240_000);
