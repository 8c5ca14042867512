// Lag of every chained table: audit_logs and two attached tables (one keyed by
// tenant, one without a chain key), read through `audit-chain lag --json`, the
// admin JSON API and /metrics, which must agree with each other and with the
// tables' own rows; then an open transaction holding an attached table's
// horizon, and a drifted table. Real PostgreSQL, real attach, real sealer.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { LagOverview, LagStatus } from '@audit-chain/lag';
import { attachTable, refreshAttachedTable } from '@audit-chain/lifecycle';
import { HorizonTracker, advanceHorizonAndDiscover, sealAttachedTables, sealOnce } from '@audit-chain/sealing';
import { connect, createTestDatabase } from '../../../../test/support/database.ts';
import { insertRows, newOrgId } from '../../../../test/support/audit-rows.ts';
import { OTHER, TOTAL } from './prometheus.ts';
import { ADMIN, adminServer, parseExposition, series, valueOf } from './test-support.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../../cli/bin/audit-chain.ts', import.meta.url));

const db = await createTestDatabase();
const app = adminServer(db.pool, { AUDIT_CHAIN_METRICS_TOP_N: '100' });
const ACTIVITY = 'public.activity_log';
const SECURITY = 'public.security_log';
const OWN = 'audit_chain.audit_logs';
const REFRESH = `audit-chain attach --table ${ACTIVITY} --refresh`;
const busyOrg = newOrgId();
const quietOrg = newOrgId();

async function activity(tenant: string | null, rows = 1, client: { query: typeof db.pool.query } = db.pool): Promise<void> {
  await client.query(`insert into public.activity_log (tenant, action) select $1, 'signed_in' from generate_series(1, $2::int)`, [tenant, rows]);
}

beforeAll(async () => {
  await db.pool.query(`create table public.activity_log (id bigserial primary key, tenant text, action text not null, created_at timestamptz not null default now())`);
  await db.pool.query(`create table public.security_log (id bigserial primary key, what text not null, at timestamp not null default (now() at time zone 'UTC'))`);
  await activity('acme', 3);
  await activity('globex', 2);
  await activity(null, 1);
  await db.pool.query(`insert into public.security_log (what) values ('login failed'), ('password changed')`);
  await attachTable(db.pool, { table: ACTIVITY, orgColumn: 'tenant', orderBy: ['created_at', 'id'] });
  await attachTable(db.pool, { table: SECURITY, orderBy: ['at', 'id'] });
  await insertRows(db.pool, busyOrg, 5);
  await insertRows(db.pool, quietOrg, 1);
  const tracker = new HorizonTracker();
  await advanceHorizonAndDiscover(db.pool, tracker);
});

afterAll(() => app.close());

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: db.url },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function adminJson<T>(url: string): Promise<T> {
  const response = await app.inject({ method: 'GET', url, headers: ADMIN });
  expect(response.statusCode, response.body.slice(0, 300)).toBe(200);
  return response.json() as T;
}

/** Drops what changes between two readings taken moments apart: times of reading and ages. */
function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !/(^generated_at$|age_seconds$|^held_seconds$|^throughput$|^state_change$)/.test(key))
      .map(([key, inner]) => [key, stable(inner)]),
  );
}

/** Unsealed visible rows per chain, read from the tables themselves (full reads: fine in a test). */
async function truth(): Promise<Map<string, number>> {
  const rows = await db.pool.query<{ chain: string; pending: number }>(
    `select 'audit_chain.audit_logs/' || coalesce(a.org_id::text, 'system') as chain, count(*)::int as pending
       from audit_logs a
      where a.chain_seq > coalesce((select s.watermark_seq from audit_chain_state s where s.org_id is not distinct from a.org_id), 0)
      group by a.org_id
     union all
     select 'public.activity_log/' || coalesce(t.tenant, 'null'), count(*)::int
       from public.activity_log t, audit_chain_tables r
      where r.table_name = 'activity_log'
        and t.audit_chain_seq > coalesce((select s.watermark_seq from audit_chain_table_state s where s.table_id = r.id and s.chain_key is not distinct from t.tenant), 0)
      group by t.tenant
     union all
     select 'public.security_log/all', count(*)::int
       from public.security_log t, audit_chain_tables r
      where r.table_name = 'security_log'
        and t.audit_chain_seq > coalesce((select s.watermark_seq from audit_chain_table_state s where s.table_id = r.id), 0)
     having count(*) > 0`,
  );
  return new Map(rows.rows.map((row) => [row.chain, row.pending]));
}

/** lag --json, the admin overview and status, and /metrics, read one after another: they must tell the same story. */
async function readEverywhere(): Promise<{ overview: LagOverview; status: LagStatus; metrics: ReturnType<typeof parseExposition> }> {
  const run = await cli(['lag', '--json', '--limit', '500']);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const overview = await adminJson<LagOverview>('/admin/v1/lag?limit=500');
  expect(stable(JSON.parse(run.stdout))).toEqual(stable(overview));
  const status = await adminJson<LagStatus>('/admin/v1/status');
  expect(stable(status.tables)).toEqual(stable(overview.tables));
  expect(stable(status.totals)).toEqual(stable(overview.totals));
  const metrics = parseExposition((await app.inject({ method: 'GET', url: '/metrics', headers: ADMIN })).body);

  const { totals, tables, chains } = overview;
  expect(overview.next_cursor).toBeNull();
  expect(tables.map((t) => t.table)).toEqual([OWN, ACTIVITY, SECURITY]);
  // Totals add up across tables, and each table's figures across its chains.
  const sum = <T>(list: T[], value: (item: T) => number) => list.reduce((total, item) => total + value(item), 0);
  for (const key of ['chains', 'chains_with_pending', 'pending_rows', 'pending_rows_discovered', 'held_rows', 'pending_unattributed', 'sealed_rows'] as const) {
    expect(sum(tables, (t) => t[key]), key).toBe(totals[key]);
  }
  for (const table of tables) {
    const mine = chains.filter((chain) => chain.table === table.table);
    expect(mine.length, table.table).toBe(table.chains);
    expect(sum(mine, (c) => c.pending_rows) + table.pending_unattributed, table.table).toBe(table.pending_rows);
    expect(sum(mine, (c) => c.held_rows), table.table).toBe(table.held_rows);
    expect(sum(mine, (c) => c.sealed_rows), table.table).toBe(table.sealed_rows);
  }
  expect(totals.pending_rows_discovered + totals.held_rows + totals.pending_unattributed).toBe(totals.pending_rows);
  // Every chain with rows waiting is listed with exactly those rows.
  const want = await truth();
  for (const [chain, pending] of want) expect(chains.find((c) => `${c.table}/${c.chain}` === chain)?.pending_rows ?? 0, chain).toBe(pending);
  for (const chain of chains) expect(chain.pending_rows, `${chain.table}/${chain.chain}`).toBe(want.get(`${chain.table}/${chain.chain}`) ?? 0);
  // Worst first across tables: attention, then most pending.
  const order = chains.map((c) => [c.halted || c.drift ? 1 : 0, c.pending_rows] as const);
  expect(order).toEqual([...order].sort((a, b) => b[0] - a[0] || b[1] - a[1]));

  // /metrics: every chain (top 100 covers them all) with its table, the same figures; the tables' series sum to _total.
  for (const name of ['audit_chain_pending_rows', 'audit_chain_held_rows'] as const) {
    const field = name === 'audit_chain_pending_rows' ? 'pending_rows' : 'held_rows';
    for (const chain of chains) expect(valueOf(metrics, name, { table: chain.table, org_id: chain.chain }), `${name} ${chain.table}/${chain.chain}`).toBe(chain[field]);
    expect(valueOf(metrics, name, { org_id: TOTAL }), name).toBe(totals[field]);
    expect(valueOf(metrics, name, { org_id: OTHER }), name).toBe(field === 'pending_rows' ? totals.pending_unattributed : 0);
  }
  for (const table of tables) {
    expect(valueOf(metrics, 'audit_chain_table_pending_rows', { table: table.table }), table.table).toBe(table.pending_rows);
    expect(valueOf(metrics, 'audit_chain_table_held_rows', { table: table.table }), table.table).toBe(table.held_rows);
    expect(valueOf(metrics, 'audit_chain_table_drifted', { table: table.table }), table.table).toBe(table.status === 'drifted' ? 1 : 0);
  }
  expect(sum(series(metrics, 'audit_chain_table_pending_rows'), (s) => s.value)).toBe(totals.pending_rows);
  return { overview, status, metrics };
}

const find = (overview: LagOverview, table: string, chain: string) => overview.chains.find((c) => c.table === table && c.chain === chain);
const tableOf = (overview: LagOverview, table: string) => overview.tables.find((t) => t.table === table)!;

test('before the first seal, an attached table\'s rows are listed per chain, held above its horizon', async () => {
  const { overview } = await readEverywhere();
  const activityLog = tableOf(overview, ACTIVITY);
  expect(activityLog).toMatchObject({ format_version: 2, chain_key_column: 'tenant', status: 'attached', horizon_seq: '0', held_rows: 6, chains: 3 });
  // The identity sequence may start one past the first live value attach reserved, which no row ever took: an upper bound.
  expect(activityLog.pending_unattributed).toBeLessThanOrEqual(1);
  expect(tableOf(overview, SECURITY)).toMatchObject({ chain_key_column: null, held_rows: 2, chains: 1 });
  expect(find(overview, ACTIVITY, 'acme')).toMatchObject({ chain_key: 'acme', org_id: null, pending_rows: 3, held_rows: 3, sealed_rows: 0, watermark_seq: '0', drift: null });
  expect(find(overview, ACTIVITY, 'null')).toMatchObject({ chain_key: null, pending_rows: 1 });
  expect(find(overview, SECURITY, 'all')).toMatchObject({ chain_key: null, pending_rows: 2 });
  // The time column (the first --order-by column) dates the oldest pending row; timestamp without time zone is read as UTC.
  expect(find(overview, ACTIVITY, 'acme')!.oldest_pending).toMatchObject({ chain_seq: '1', age_seconds: expect.any(Number) });
  expect(find(overview, SECURITY, 'all')!.oldest_pending!.age_seconds).toBeGreaterThanOrEqual(0);
  expect(find(overview, SECURITY, 'all')!.oldest_pending!.age_seconds).toBeLessThan(600);
  // audit_logs is one more chained table: its chains carry its name.
  expect(find(overview, OWN, busyOrg)).toMatchObject({ chain_key: busyOrg, org_id: busyOrg, pending_rows: 5 });
  expect(overview.chains[0]).toMatchObject({ table: OWN, chain: busyOrg });
});

test('after sealing every table nothing is pending, and sealed rows add up', async () => {
  await sealOnce(db.pool, { batchSize: 100, waitMs: 500, pollMs: 20 });
  const results = await sealAttachedTables(db.pool, { batchSize: 100, waitMs: 2000 });
  expect(results.map((r) => r.status)).toEqual(['sealed', 'sealed']);
  const { overview } = await readEverywhere();
  expect(overview.totals).toMatchObject({ pending_rows: 0, held_rows: 0, sealed_rows: 6 + 6 + 2, drifted_tables: 0 });
  expect(tableOf(overview, ACTIVITY)).toMatchObject({ horizon_seq: tableOf(overview, ACTIVITY).head_seq, state: 'caught_up', held_seconds: 0 });
  expect(find(overview, ACTIVITY, 'acme')).toMatchObject({ pending_rows: 0, sealed_rows: 3, oldest_pending: null, last_sealed_at: expect.any(String) });
});

test('an open transaction on an attached table holds its horizon: the rows behind it are listed as held, worst first, with the holder', async () => {
  const holder = await connect(db.url, 'attached-holder');
  try {
    await holder.query('begin');
    await activity('acme', 1, holder);
    await activity('globex', 2);
    await activity('initech', 1);
    await insertRows(db.pool, busyOrg, 3);
    await advanceHorizonAndDiscover(db.pool, new HorizonTracker());
    const results = await sealAttachedTables(db.pool, { batchSize: 100, waitMs: 0 });
    expect(results.find((r) => r.table === ACTIVITY)?.status).toBe('held');
    const { overview, metrics } = await readEverywhere();
    const xactAge = (await db.pool.query<{ age: number }>(`select extract(epoch from now() - xact_start)::float8 as age from pg_stat_activity where application_name = 'attached-holder'`)).rows[0]!.age;
    const table = tableOf(overview, ACTIVITY);
    expect(table).toMatchObject({ state: 'open_writers', held_rows: 3, pending_rows_discovered: 0, pending_unattributed: 1, pending_rows: 4 });
    expect(table.holders).toHaveLength(1);
    expect(table.holders[0]).toMatchObject({ application_name: 'attached-holder', pid: expect.any(Number) });
    expect(table.held_seconds).toBeGreaterThan(0);
    expect(table.held_seconds).toBeLessThanOrEqual(xactAge + 1);
    // audit_logs' horizon is not held by a writer of another table.
    expect(overview.horizon.holders).toEqual([]);
    expect(find(overview, ACTIVITY, 'globex')).toMatchObject({ pending_rows: 2, held_rows: 2 });
    expect(find(overview, ACTIVITY, 'initech')).toMatchObject({ pending_rows: 1, held_rows: 1, sealed_rows: 0 });
    // The open transaction's row is not visible: acme has nothing to show, and it is the 1 in no chain yet.
    expect(find(overview, ACTIVITY, 'acme')).toMatchObject({ pending_rows: 0 });
    expect(overview.chains.slice(0, 3).map((c) => `${c.table}/${c.chain}`)).toEqual([`${OWN}/${busyOrg}`, `${ACTIVITY}/globex`, `${ACTIVITY}/initech`]);
    expect(valueOf(metrics, 'audit_chain_table_horizon_holders', { table: ACTIVITY })).toBe(1);
    expect(valueOf(metrics, 'audit_chain_table_horizon_holders', { table: OWN })).toBe(0);
    // Text: the table line names the holder.
    const text = await cli(['lag']);
    expect(text.stdout).toMatch(/public\.activity_log: 4 pending \(3 held, 1 in no chain yet\) in 2 of 4 chains; .*open writers/);
    expect(text.stdout).toMatch(/held by pid \d+ attached-holder/);
    await holder.query('commit');
  } finally {
    await holder.query('rollback').catch(() => {});
    await holder.end();
  }
  await sealOnce(db.pool, { batchSize: 100, waitMs: 500, pollMs: 20 });
  await sealAttachedTables(db.pool, { batchSize: 100, waitMs: 2000 });
  const { overview } = await readEverywhere();
  expect(overview.totals.pending_rows).toBe(0);
  expect(find(overview, ACTIVITY, 'acme')).toMatchObject({ sealed_rows: 4 });
});

test('a drifted table is a problem on top, with the command that fixes it, until attach --refresh', async () => {
  await db.pool.query('alter table public.activity_log add column note text');
  await activity('acme', 1);
  await insertRows(db.pool, busyOrg, 2);
  await advanceHorizonAndDiscover(db.pool, new HorizonTracker());
  // Seen by the reading itself before the sealer marks it, and after.
  for (const seal of [false, true]) {
    if (seal) expect((await sealAttachedTables(db.pool, { batchSize: 100, waitMs: 2000 })).find((r) => r.table === ACTIVITY)?.status).toBe('drifted');
    const { overview, metrics } = await readEverywhere();
    const table = tableOf(overview, ACTIVITY);
    expect(table.status).toBe('drifted');
    expect(table.drift).toMatchObject({ command: REFRESH, message: expect.stringContaining('column note (text) was added') });
    expect(overview.totals.drifted_tables).toBe(1);
    // The drifted table's chains come first, its pending chain before audit_logs' busier one.
    expect(overview.chains[0]).toMatchObject({ table: ACTIVITY, chain: 'acme', pending_rows: 1, drift: { command: REFRESH } });
    expect(overview.chains.filter((c) => c.table === ACTIVITY).every((c) => c.drift !== null)).toBe(true);
    expect(find(overview, OWN, busyOrg)!.drift).toBeNull();
    expect(valueOf(metrics, 'audit_chain_drifted_tables')).toBe(1);
  }
  const text = await cli(['status', '--window', '0']);
  expect(text.stdout).toContain(`fix: ${REFRESH}`);
  expect((await cli(['lag'])).stdout).toMatch(/DRIFTED: run audit-chain attach --table public\.activity_log --refresh/);

  await refreshAttachedTable(db.pool, { table: ACTIVITY });
  await sealAttachedTables(db.pool, { batchSize: 100, waitMs: 2000 });
  const { overview } = await readEverywhere();
  expect(tableOf(overview, ACTIVITY)).toMatchObject({ status: 'attached', drift: null, pending_rows: 0 });
  expect(overview.totals.drifted_tables).toBe(0);
  expect(overview.chains[0]).toMatchObject({ table: OWN, chain: busyOrg, pending_rows: 2 });
});
