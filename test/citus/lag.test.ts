// Lag per chain on Citus: the per-chain figures of `audit-chain lag --json`,
// GET /admin/v1/lag(/:org), /metrics and status, while an open transaction
// through the coordinator holds the horizon and rows of other chains wait
// behind it on both workers; then once discovery has counted them. Pending
// counts per chain add up to the totals at every step, and each chain's
// oldest pending row is the one the rows themselves say.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { advanceHorizonAndDiscover, HorizonTracker, sealOnce } from '@audit-chain/sealing';
import type { ChainDetail, LagOverview, LagStatus } from '@audit-chain/lag';
import { insertRows, newOrgId } from '../support/audit-rows.ts';
import { connect } from '../support/database.ts';
import { runCli } from '../tamper/support.ts';
import { ADMIN, adminServer } from '../../apps/api/src/admin/test-support.ts';
import { createCitusDatabase } from './cluster.ts';
import { orgsOnDifferentWorkers, pendingRows, shardOf } from './shards.ts';

const db = await createCitusDatabase();
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-citus-lag-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cliEnv = { DATABASE_URL: db.url, AUDIT_CHAIN_DATA_DIR: dir };

async function cliJson<T>(args: string[]): Promise<T> {
  const run = await runCli([...args, '--json'], cliEnv);
  expect(run.stderr, args.join(' ')).toBe('');
  expect(run.code, args.join(' ')).toBe(0);
  return JSON.parse(run.stdout) as T;
}

/** The first row above the chain's watermark, read from the rows themselves (one shard). */
async function firstPending(orgId: string): Promise<string | null> {
  const result = await db.pool.query<{ chain_seq: string }>(
    `select a.chain_seq::text from audit_logs a
      where a.org_id = $1 and a.chain_seq > coalesce((select watermark_seq from audit_chain_state where org_id = $1), 0)
      order by a.chain_seq limit 1`,
    [orgId],
  );
  return result.rows[0]?.chain_seq ?? null;
}

function expectTotalsAddUp(overview: LagOverview): void {
  const sum = (pick: (chain: LagOverview['chains'][number]) => number) => overview.chains.reduce((total, chain) => total + pick(chain), 0);
  expect(overview.next_cursor).toBeNull();
  expect(overview.totals.chains).toBe(overview.chains.length);
  expect(sum((chain) => chain.pending_rows) + overview.totals.pending_unattributed).toBe(overview.totals.pending_rows);
  expect(sum((chain) => chain.held_rows)).toBe(overview.totals.held_rows);
  expect(sum((chain) => chain.pending_rows - chain.held_rows)).toBe(overview.totals.pending_rows_discovered);
  expect(overview.chains.filter((chain) => chain.pending_rows > 0)).toHaveLength(overview.totals.chains_with_pending);
}

describe('lag per chain on Citus', () => {
  const orgB = newOrgId();
  let [orgA, orgC] = ['', ''];
  const committed = new Map<string, number>();

  test('held behind an open transaction through the coordinator: each chain lists its held rows and its oldest pending row; they add up to the totals', async () => {
    // Rows on both workers.
    [orgA, orgC] = await orgsOnDifferentWorkers(db.pool);
    expect((await shardOf(db.pool, orgA)).nodeport).not.toBe((await shardOf(db.pool, orgC)).nodeport);
    for (const org of [orgA, orgB, orgC]) await insertRows(db.pool, org, 2, 'sealed.first');
    expect((await sealOnce(db.pool, { batchSize: 500, waitMs: 5_000, pollMs: 20 })).broken).toEqual([]);

    const holder = await connect(db.url, 'citus-lag-holder');
    try {
      await holder.query('begin');
      const open = await insertRows(holder, orgA, 2, 'open');
      committed.set(orgA, 1).set(orgB, 3).set(orgC, 4);
      for (const [org, rows] of committed) await insertRows(db.pool, org, rows, 'held');
      const round = await sealOnce(db.pool, { batchSize: 500, waitMs: 0, pollMs: 10 });
      expect(round.horizon).toBeLessThan(open[0]!);
      expect(round.holders.length).toBeGreaterThan(0);

      const overview = await cliJson<LagOverview>(['lag']);
      expect(overview.horizon.state).toBe('open_writers');
      expect(overview.horizon.holders.some((holding) => holding.application_name === 'citus-lag-holder')).toBe(true);
      expect(overview.totals.pending_unattributed).toBe(2);
      expect(overview.totals.held_rows).toBe(8);
      expectTotalsAddUp(overview);
      for (const [org, rows] of committed) {
        const chain = overview.chains.find((listed) => listed.org_id === org);
        expect(chain, org).toBeDefined();
        expect(chain!.pending_rows, org).toBe(rows);
        expect(chain!.held_rows, org).toBe(rows);
        expect(chain!.sealed_rows, org).toBe(2);
        expect(chain!.oldest_pending?.chain_seq, org).toBe(await firstPending(org));
      }
      // Most pending first.
      expect(overview.chains.map((chain) => chain.org_id)).toEqual([orgC, orgB, orgA]);
      expect(overview.totals.oldest_pending?.org_id).toBe(orgA);

      const one = await cliJson<ChainDetail>(['lag', '--org', orgB]);
      expect(one.chain.pending_rows).toBe(3);
      expect(one.chain.oldest_pending?.chain_seq).toBe(await firstPending(orgB));

      const status = await cliJson<LagStatus>(['status', '--window', '0']);
      expect(status.totals.pending_rows).toBe(overview.totals.pending_rows);
      expect(status.totals.held_rows).toBe(8);

      const app = adminServer(db.pool);
      try {
        const api = await app.inject({ method: 'GET', url: '/admin/v1/lag', headers: ADMIN });
        expect(api.statusCode, api.body).toBe(200);
        expectTotalsAddUp(api.json() as LagOverview);
        const chain = await app.inject({ method: 'GET', url: `/admin/v1/lag/${orgC}`, headers: ADMIN });
        expect(chain.statusCode, chain.body).toBe(200);
        expect((chain.json() as ChainDetail).chain.held_rows).toBe(4);
        const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: ADMIN });
        expect(metrics.statusCode, metrics.body).toBe(200);
        for (const [org, rows] of committed) {
          expect(metrics.body).toContain(`audit_chain_pending_rows{org_id="${org}"} ${rows}`);
          expect(metrics.body).toContain(`audit_chain_held_rows{org_id="${org}"} ${rows}`);
        }
      } finally {
        await app.close();
      }
      await holder.query('commit');
      committed.set(orgA, 3);
    } finally {
      await holder.end();
    }
  });

  test('once discovery has counted them (nothing sealed yet): the same per-chain figures, now discovered, and the oldest pending row of the totals', async () => {
    const tracker = new HorizonTracker();
    const step = await advanceHorizonAndDiscover(db.pool, tracker);
    expect(step.holders).toEqual([]);
    expect(step.horizon).toBe(step.head);
    const overview = await cliJson<LagOverview>(['lag']);
    expect(overview.horizon.state).not.toBe('open_writers');
    expect(overview.totals.held_rows).toBe(0);
    expect(overview.totals.pending_unattributed).toBe(0);
    expect(overview.totals.pending_rows).toBe(10);
    expect(overview.totals.pending_rows).toBe(await pendingRows(db.pool));
    expectTotalsAddUp(overview);
    for (const [org, rows] of committed) {
      const chain = overview.chains.find((listed) => listed.org_id === org)!;
      expect(chain.pending_rows, org).toBe(rows);
      expect(chain.oldest_pending?.chain_seq, org).toBe(await firstPending(org));
    }
    // orgA's first pending row is the open transaction's, written first.
    expect(overview.totals.oldest_pending).toMatchObject({ org_id: orgA, chain_seq: await firstPending(orgA), exact: true });
  });

  test('after sealing: nothing pending anywhere, every chain listed with its sealed rows', async () => {
    expect((await sealOnce(db.pool, { batchSize: 500, waitMs: 5_000, pollMs: 20 })).broken).toEqual([]);
    const overview = await cliJson<LagOverview>(['lag']);
    expect(overview.totals.pending_rows).toBe(0);
    expect(overview.totals.chains_with_pending).toBe(0);
    expect(overview.totals.oldest_pending).toBeNull();
    expectTotalsAddUp(overview);
    for (const [org, rows] of committed) {
      const chain = overview.chains.find((listed) => listed.org_id === org)!;
      expect(chain.sealed_rows, org).toBe(2 + rows);
      expect(chain.oldest_pending, org).toBeNull();
    }
  });
});
