import { expect, test } from 'vitest';
import { createPool } from '@audit-chain/db';
import { HorizonTracker, advanceHorizonAndDiscover, sealOnce } from '@audit-chain/sealing';
import { connect, createTestDatabase } from '../../../test/support/database.ts';
import { insertRows, newOrgId, waitFor } from '../../../test/support/audit-rows.ts';
import { decodeOverviewCursor } from './cursor.ts';
import type { ChainLag, LagOverview } from './types.ts';
import { getChainLag, getLagOverview, getLagStatus } from './views.ts';

const db = await createTestDatabase();
const seal = (waitMs = 300) => sealOnce(db.pool, { batchSize: 100, waitMs, pollMs: 20 });

/** Discovery without sealing: rows get counted into chains and stay pending. */
async function discoverOnly(): Promise<void> {
  const tracker = new HorizonTracker();
  await waitFor('horizon at the head', async () => {
    const step = await advanceHorizonAndDiscover(db.pool, tracker);
    return step.horizon >= step.head;
  });
}

function chainOf(overview: LagOverview, orgId: string | null): ChainLag {
  const chain = overview.chains.find((c) => c.org_id === orgId);
  if (!chain) throw new Error(`chain ${orgId ?? 'system'} not in the overview`);
  return chain;
}

/** The figures recomputed from audit_logs itself (a full read: fine in a test, never in the lag views). */
async function fromTheTable(orgId: string | null) {
  const result = await db.pool.query<{ watermark: string; discovered: string; pending: number; first_pending: string | null; sealed: number }>(
    `with s as (select coalesce((select watermark_seq from audit_chain_state where org_id is not distinct from $1::uuid), 0) as w),
          p as (select discovered_seq as d from audit_chain_progress)
     select s.w::text as watermark, p.d::text as discovered,
            (select count(*)::int from audit_logs a where a.org_id is not distinct from $1::uuid and a.chain_seq > s.w) as pending,
            (select min(a.chain_seq)::text from audit_logs a where a.org_id is not distinct from $1::uuid and a.chain_seq > s.w) as first_pending,
            (select count(*)::int from audit_logs a where a.org_id is not distinct from $1::uuid and a.checksum is not null) as sealed
       from s, p`,
    [orgId],
  );
  return result.rows[0]!;
}

async function expectMatchesTable(chain: ChainLag): Promise<void> {
  const truth = await fromTheTable(chain.org_id);
  expect({
    watermark: chain.watermark_seq,
    pending: chain.pending_rows,
    first_pending: chain.oldest_pending?.chain_seq ?? null,
    sealed: chain.sealed_rows,
  }).toEqual({ watermark: truth.watermark, pending: truth.pending, first_pending: truth.first_pending, sealed: truth.sealed });
}

test('lag figures follow inserts, seals and an open transaction holding the horizon', async () => {
  const orgA = newOrgId();
  const orgB = newOrgId();
  await insertRows(db.pool, orgA, 3);
  const bRows = await insertRows(db.pool, orgB, 5);
  await insertRows(db.pool, null, 2);
  await seal();

  const sealed = await getLagOverview(db.pool, { limit: 50 });
  expect(sealed.totals).toMatchObject({ chains: 3, pending_rows: 0, pending_rows_discovered: 0, pending_above_discovered: 0, sealed_rows: 10 });
  expect(sealed.totals.oldest_pending).toBeNull();
  expect(sealed.horizon.state).toBe('caught_up');
  expect(chainOf(sealed, orgB)).toMatchObject({ pending_rows: 0, sealed_rows: 5, watermark_seq: bRows[4]!.toString(), head_seq: bRows[4]!.toString(), oldest_pending: null });
  expect(chainOf(sealed, null).chain).toBe('system');
  for (const chain of sealed.chains) await expectMatchesTable(chain);

  // Four rows of A commit, then a transaction writes a row of B and stays open,
  // then two more rows of A commit behind it.
  const early = await insertRows(db.pool, orgA, 4);
  const holder = await connect(db.url, 'lag-holder');
  try {
    const holderPid = (await holder.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    await holder.query('begin');
    const [held] = await insertRows(holder, orgB, 1, 'held.open');
    const late = await insertRows(db.pool, orgA, 2);
    await seal();

    const heldView = await getLagOverview(db.pool, { limit: 50 });
    expect(heldView.horizon).toMatchObject({
      horizon_seq: (held! - 1n).toString(),
      head_seq: late[1]!.toString(),
      lag_seq: '3',
      state: 'open_writers',
    });
    expect(heldView.horizon.holders).toHaveLength(1);
    expect(heldView.horizon.holders[0]).toMatchObject({ pid: holderPid, application_name: 'lag-holder', user_name: 'postgres', state: 'idle in transaction' });
    expect(heldView.horizon.holders[0]!.query).toMatch(/insert into audit_logs/i);
    const a = chainOf(heldView, orgA);
    // A's four early rows are sealed; its two late rows wait above the horizon:
    // not counted by discovery yet, but counted as held rows of the chain.
    expect(a).toMatchObject({ pending_rows: 2, held_rows: 2, sealed_rows: 7, watermark_seq: early[3]!.toString() });
    expect(heldView.chains[0]!.org_id).toBe(orgA); // the chain with rows waiting is on top
    expect(a.oldest_pending?.chain_seq).toBe(late[0]!.toString());
    expect(chainOf(heldView, orgB).oldest_pending).toBeNull(); // the held row is not visible: nothing to age
    // Three values above the discovered position: A's two late rows (held, in
    // their chain) and the open transaction's row (invisible: unattributed).
    expect(heldView.totals).toMatchObject({
      pending_rows: 3,
      pending_rows_discovered: 0,
      held_rows: 2,
      pending_unattributed: 1,
      pending_above_discovered: 3,
      chains_with_pending: 1,
    });
    expect(heldView.totals.oldest_pending).toMatchObject({ org_id: orgA, chain_seq: late[0]!.toString(), exact: true });
    for (const chain of heldView.chains) await expectMatchesTable(chain);

    // The holder's age grows while it stays open.
    const firstAge = heldView.horizon.holders[0]!.xact_age_seconds!;
    await waitFor('a later reading with an older holder', async () => {
      const later = await getLagOverview(db.pool, { limit: 1 });
      return (later.horizon.holders[0]?.xact_age_seconds ?? 0) > firstAge && later.horizon.held_seconds > 0;
    });

    await holder.query('commit');
  } finally {
    await holder.end();
  }

  // Discovery alone (no seal): A has 2 pending, B 1, system 0; worst first.
  await discoverOnly();
  const pending = await getLagOverview(db.pool, { limit: 50 });
  expect(pending.horizon.state).toBe('caught_up');
  expect(pending.horizon.holders).toEqual([]);
  expect(pending.chains.map((c) => [c.chain, c.pending_rows])).toEqual([
    [orgA, 2],
    [orgB, 1],
    ['system', 0],
  ]);
  expect(pending.totals).toMatchObject({ pending_rows: 3, pending_rows_discovered: 3, held_rows: 0, pending_unattributed: 0, pending_above_discovered: 0, chains_with_pending: 2 });
  for (const chain of pending.chains) await expectMatchesTable(chain);
  // The oldest pending row is B's once-held row: recorded (at its transaction's start) before A's late rows.
  expect(pending.totals.oldest_pending).toMatchObject({ org_id: orgB, chain_seq: chainOf(pending, orgB).oldest_pending?.chain_seq, exact: true });

  await seal();
  const caughtUp = await getLagOverview(db.pool, { limit: 50 });
  expect(caughtUp.totals).toMatchObject({ pending_rows: 0, sealed_rows: 17 });
  for (const chain of caughtUp.chains) await expectMatchesTable(chain);
});

test('pages of the overview are worst first, never overlap, and end', async () => {
  const orgs = Array.from({ length: 7 }, newOrgId);
  for (const [i, org] of orgs.entries()) await insertRows(db.pool, org, i + 1);
  await discoverOnly();

  const seen: ChainLag[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: LagOverview = await getLagOverview(db.pool, { limit: 3, cursor: cursor ? decodeOverviewCursor(cursor) : undefined });
    seen.push(...page.chains);
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor !== null && pages < 20);

  const all = await getLagOverview(db.pool, { limit: 500 });
  expect(seen.map((c) => c.chain)).toEqual(all.chains.map((c) => c.chain));
  expect(new Set(seen.map((c) => c.chain)).size).toBe(seen.length);
  const counts = seen.map((c) => c.pending_rows);
  expect(counts).toEqual([...counts].sort((x, y) => y - x));
  expect(seen.slice(0, 7).map((c) => c.org_id)).toEqual([...orgs].reverse());
  await seal();
});

test('one chain: detail, the system chain, an undiscovered chain and an unknown one', async () => {
  const org = newOrgId();
  await insertRows(db.pool, org, 2);
  await seal();
  const detail = await getChainLag(db.pool, org);
  expect(detail?.chain).toMatchObject({ chain: org, pending_rows: 0, sealed_rows: 2 });
  expect((await getChainLag(db.pool, null))?.chain.chain).toBe('system');

  const fresh = newOrgId();
  const [first] = await insertRows(db.pool, fresh, 3);
  const undiscovered = await getChainLag(db.pool, fresh);
  expect(undiscovered?.chain).toMatchObject({ watermark_seq: '0', sealed_rows: 0, oldest_pending: { chain_seq: first!.toString() } });

  expect(await getChainLag(db.pool, newOrgId())).toBeUndefined();
  await seal();
});

test('checkpoints, verifications, halted chains and worker heartbeats show in the chain and the status', async () => {
  const org = newOrgId();
  await insertRows(db.pool, org, 6);
  await seal();
  await db.pool.query(
    `insert into audit_chain_checkpoints (org_id, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body)
     select $1, watermark_seq, sealed_count - 2, head_checksum, now() - interval '10 minutes', 'k1', 'sig', '{}'::jsonb
       from audit_chain_state where org_id = $1`,
    [org],
  );
  const run = await db.pool.query<{ id: string }>(
    `insert into audit_chain_verifications (trigger, status, finished_at, chains_checked, rows_checked, breaks_found)
     values ('schedule', 'breaks', now() - interval '1 minute', 1, 6, 1) returning id`,
  );
  await db.pool.query(
    `insert into audit_chain_verify_status (org_id, verification_id, verified_at, rows_checked, breaks_found, first_break)
     values ($1, $2, now() - interval '1 minute', 6, 1, '{"kind":"content_changed"}')`,
    [org, run.rows[0]!.id],
  );
  await db.pool.query(`update audit_chain_state set halted_at = now(), halted_reason = 'test halt' where org_id = $1`, [org]);
  const latency = (counts: number[]) => JSON.stringify({ le: [10, 100], counts, sum_ms: 0, count: counts.reduce((a, b) => a + b, 0) });
  await db.pool.query(
    `insert into audit_chain_workers (worker_id, hostname, pid, heartbeat_at, sealed_rows, errors, last_error, seal_latency)
     values ('w-alive', 'h', 1, now(), 40, 2, 'boom', $1), ('w-stale', 'h', 2, now() - interval '5 minutes', 60, 1, null, $2),
            ('w-gone', 'h', 3, now() - interval '11 minutes', 0, 0, null, null)`,
    [latency([3, 1, 0]), latency([1, 0, 1])],
  );
  await db.pool.query(`insert into audit_chain_workers (worker_id, hostname, pid, heartbeat_at, stopped_at) values ('w-stopped', 'h', 4, now(), now())`);

  const chain = (await getChainLag(db.pool, org))!.chain;
  expect(chain.last_checkpoint).toMatchObject({ key_id: 'k1', rows_since: 2 });
  expect(chain.last_checkpoint!.age_seconds).toBeGreaterThanOrEqual(600);
  expect(chain.last_verification).toMatchObject({ breaks_found: 1, rows_checked: 6, first_break: { kind: 'content_changed' } });
  expect(chain.halted).toMatchObject({ reason: 'test halt' });

  const status = await getLagStatus(db.pool);
  expect(status.halted.count).toBe(1);
  expect(status.halted.chains[0]).toMatchObject({ chain: org, reason: 'test halt' });
  // Killed with its database 11 minutes ago: gone, no longer stale, so the stale alert has cleared.
  expect(status.workers).toMatchObject({ alive: 1, stale: 1, gone: 1, sealed_rows: 100, errors: 3 });
  expect(Object.fromEntries(status.workers.recent.map((w) => [w.worker_id, w.state]))).toEqual({
    'w-alive': 'alive',
    'w-stale': 'stale',
    'w-gone': 'gone',
    'w-stopped': 'stopped',
  });
  // The limit is an option: at 2 minutes the 5-minute-silent worker is gone too.
  expect((await getLagStatus(db.pool, { goneAfterSeconds: 120 })).workers).toMatchObject({ alive: 1, stale: 0, gone: 2 });
  expect(status.seal_latency.buckets).toEqual([
    { le_ms: 10, count: 4 },
    { le_ms: 100, count: 5 },
    { le_ms: null, count: 6 },
  ]);
  expect(status.last_checkpoint).toMatchObject({ chain: org, key_id: 'k1' });
  expect(status.last_verification).toMatchObject({ status: 'breaks', breaks_found: 1 });
  expect(status.verification).toEqual({ chains_verified: 1, chains_with_breaks: 1, breaks: 1 });
});

test('the read-only admin role can read every lag view', async () => {
  const role = `lag_reader_${Math.random().toString(36).slice(2, 8)}`;
  const admin = (await db.pool.query<{ role_name: string }>(`select role_name from audit_chain_roles where kind = 'admin'`)).rows[0]!.role_name;
  await db.pool.query(`create role ${role} login in role ${admin}`);
  const url = new URL(db.url);
  url.username = role;
  const asAdmin = createPool(url.toString(), { applicationName: 'lag reader' });
  try {
    const overview = await getLagOverview(asAdmin, { limit: 5 });
    expect(overview.totals.chains).toBeGreaterThan(0);
    expect((await getLagStatus(asAdmin)).halted.count).toBeGreaterThanOrEqual(0);
    expect(await getChainLag(asAdmin, overview.chains[0]!.org_id)).toBeDefined();
  } finally {
    await asAdmin.end();
    await db.pool.query(`drop role ${role}`);
  }
});
