// Property: whatever mix of commits, open transactions, rollbacks, discovery
// steps and seals came before, in audit_logs and in an attached table, one
// reading of the lag adds up. Every chain of every table with visible unsealed
// rows is listed with exactly those rows (held behind a horizon or not), the
// chains plus the unattributed values make each table's total, the tables make
// the total, and /metrics' series other than _total sum to its _total. Real
// PostgreSQL, real open transactions; fast-check picks the history.
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, expect, test } from 'vitest';
import { getLagOverview, type ChainLag } from '@audit-chain/lag';
import { attachTable } from '@audit-chain/lifecycle';
import { HorizonTracker, advanceHorizonAndDiscover, sealAttachedTables, sealOnce } from '@audit-chain/sealing';
import { connect, createTestDatabase } from '../../../../test/support/database.ts';
import { insertRows, newOrgId } from '../../../../test/support/audit-rows.ts';
import { OTHER, TOTAL } from './prometheus.ts';
import { ADMIN, adminServer, parseExposition, series, valueOf } from './test-support.ts';

const db = await createTestDatabase();
const app = adminServer(db.pool, { AUDIT_CHAIN_METRICS_TOP_N: '2' });
afterAll(() => app.close());
const ORGS: (string | null)[] = [newOrgId(), newOrgId(), newOrgId(), null];
const TENANTS: (string | null)[] = ['acme', 'globex', null];
const OWN = 'audit_chain.audit_logs';

// The product's own table, chained in place by attach; keyed by tenant.
await db.pool.query('create table public.activity_log (id bigserial primary key, tenant text, action text not null)');
await db.pool.query("insert into public.activity_log (tenant, action) values ('acme', 'seed'), (null, 'seed')");
await attachTable(db.pool, { table: 'public.activity_log', orgColumn: 'tenant', orderBy: ['id'] });

type Step =
  | { kind: 'insert'; org: number; rows: number }
  | { kind: 'open'; org: number; rows: number }
  | { kind: 'insert-attached'; tenant: number; rows: number }
  | { kind: 'open-attached'; tenant: number; rows: number }
  | { kind: 'end'; commit: boolean }
  | { kind: 'discover' }
  | { kind: 'seal' }
  | { kind: 'seal-attached' };

const org = fc.integer({ min: 0, max: ORGS.length - 1 });
const tenant = fc.integer({ min: 0, max: TENANTS.length - 1 });
const rows = fc.integer({ min: 1, max: 4 });
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), org, rows }),
  fc.record({ kind: fc.constant('open' as const), org, rows }),
  fc.record({ kind: fc.constant('insert-attached' as const), tenant, rows }),
  fc.record({ kind: fc.constant('open-attached' as const), tenant, rows }),
  fc.record({ kind: fc.constant('end' as const), commit: fc.boolean() }),
  fc.constant({ kind: 'discover' as const }),
  fc.constant({ kind: 'seal' as const }),
  fc.constant({ kind: 'seal-attached' as const }),
);

async function insertActivity(client: Pick<pg.ClientBase, 'query'>, key: string | null, count: number): Promise<void> {
  await client.query("insert into public.activity_log (tenant, action) select $1, 'event' from generate_series(1, $2::int)", [key, count]);
}

/** Unsealed visible rows per chain (table/chain), read from the tables themselves (full reads: fine in a test). */
async function truth(): Promise<Map<string, number>> {
  const result = await db.pool.query<{ chain: string; pending: number }>(
    `select '${OWN}/' || coalesce(a.org_id::text, 'system') as chain, count(*)::int as pending
       from audit_logs a
      where a.chain_seq > coalesce((select s.watermark_seq from audit_chain_state s where s.org_id is not distinct from a.org_id), 0)
      group by a.org_id
     union all
     select 'public.activity_log/' || coalesce(t.tenant, 'null'), count(*)::int
       from public.activity_log t, audit_chain_tables r
      where r.table_name = 'activity_log'
        and t.audit_chain_seq > coalesce((select s.watermark_seq from audit_chain_table_state s where s.table_id = r.id and s.chain_key is not distinct from t.tenant), 0)
      group by t.tenant`,
  );
  return new Map(result.rows.map((row) => [row.chain, row.pending]));
}

async function checkReading(): Promise<void> {
  const overview = await getLagOverview(db.pool, { limit: 500 });
  const { totals, horizon, chains, tables } = overview;
  const sum = (value: (chain: ChainLag) => number) => chains.reduce((total, chain) => total + value(chain), 0);
  expect(overview.next_cursor).toBeNull();
  expect(tables.map((t) => t.table)).toEqual([OWN, 'public.activity_log']);
  expect(sum((c) => c.pending_rows) + totals.pending_unattributed).toBe(totals.pending_rows);
  expect(sum((c) => c.held_rows)).toBe(totals.held_rows);
  expect(sum((c) => c.sealed_rows)).toBe(totals.sealed_rows);
  expect(totals.pending_rows_discovered + totals.held_rows + totals.pending_unattributed).toBe(totals.pending_rows);
  expect(totals.pending_above_discovered).toBe(totals.held_rows + totals.pending_unattributed);
  const own = tables[0]!;
  expect(own.held_rows + own.pending_unattributed).toBe(Number(BigInt(horizon.head_seq) - BigInt(horizon.discovered_seq)));
  expect(totals.pending_unattributed).toBeGreaterThanOrEqual(0);
  expect(totals.chains_with_pending).toBe(chains.filter((c) => c.pending_rows > 0).length);
  // Each table's figures are its chains' figures plus its unattributed values; the tables make the totals.
  for (const table of tables) {
    const mine = chains.filter((c) => c.table === table.table);
    expect(mine.reduce((total, c) => total + c.pending_rows, 0) + table.pending_unattributed, table.table).toBe(table.pending_rows);
    expect(mine.reduce((total, c) => total + c.held_rows, 0), table.table).toBe(table.held_rows);
  }
  for (const key of ['pending_rows', 'held_rows', 'pending_unattributed', 'sealed_rows', 'chains', 'chains_with_pending'] as const) {
    expect(tables.reduce((total, table) => total + table[key], 0), key).toBe(totals[key]);
  }
  // Every chain with rows waiting is listed with exactly those rows.
  const want = await truth();
  const id = (c: ChainLag) => `${c.table}/${c.chain}`;
  for (const [chain, pending] of want) expect(chains.find((c) => id(c) === chain)?.pending_rows ?? 0, chain).toBe(pending);
  for (const chain of chains) expect(chain.pending_rows, id(chain)).toBe(want.get(id(chain)) ?? 0);
  // Worst first (no chain here is halted or broken).
  const pending = chains.map((c) => c.pending_rows);
  expect(pending).toEqual([...pending].sort((a, b) => b - a));
  if (totals.pending_rows - totals.pending_unattributed === 0 && horizon.holders.length === 0) expect(horizon.held_seconds).toBe(0);

  // /metrics (top 2 chains): the series other than _total sum to it, and _total is the reading's total.
  const metrics = parseExposition((await app.inject({ method: 'GET', url: '/metrics', headers: ADMIN })).body);
  for (const [name, total] of [
    ['audit_chain_pending_rows', totals.pending_rows],
    ['audit_chain_held_rows', totals.held_rows],
  ] as const) {
    expect(valueOf(metrics, name, { org_id: TOTAL }), name).toBe(total);
    expect(valueOf(metrics, name, { org_id: OTHER }), name).toBeGreaterThanOrEqual(0);
    const parts = series(metrics, name).filter((s) => s.labels.org_id !== TOTAL);
    expect(parts.reduce((s, p) => s + p.value, 0), name).toBe(total);
  }
}

test('one reading adds up after any history of commits, open transactions, rollbacks, discovery and seals', async () => {
  const tracker = new HorizonTracker();
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
      const open: pg.Client[] = [];
      try {
        for (const s of steps) {
          if (s.kind === 'insert') await insertRows(db.pool, ORGS[s.org]!, s.rows);
          else if (s.kind === 'open') {
            if (open.length >= 2) continue;
            const client = await connect(db.url, 'lag-totals-holder');
            open.push(client);
            await client.query('begin');
            await insertRows(client, ORGS[s.org]!, s.rows);
          } else if (s.kind === 'insert-attached') await insertActivity(db.pool, TENANTS[s.tenant]!, s.rows);
          else if (s.kind === 'open-attached') {
            if (open.length >= 2) continue;
            const client = await connect(db.url, 'lag-totals-attached-holder');
            open.push(client);
            await client.query('begin');
            await insertActivity(client, TENANTS[s.tenant]!, s.rows);
          } else if (s.kind === 'end') {
            const client = open.shift();
            if (!client) continue;
            await client.query(s.commit ? 'commit' : 'rollback');
            await client.end();
          } else if (s.kind === 'discover') await advanceHorizonAndDiscover(db.pool, tracker);
          else if (s.kind === 'seal-attached') await sealAttachedTables(db.pool, { batchSize: 100, waitMs: 0 });
          else await sealOnce(db.pool, { batchSize: 100, waitMs: 30, pollMs: 10 });
        }
        // The moment that matters: transactions may still be open.
        await checkReading();
      } finally {
        for (const client of open) {
          await client.query('rollback').catch(() => {});
          await client.end();
        }
      }
      await checkReading();
    }),
    { numRuns: 25 },
  );
}, 180_000);
