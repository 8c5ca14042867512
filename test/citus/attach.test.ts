// `audit-chain attach` on a Citus coordinator: a product table Citus manages
// (distributed by its chain key, or a reference table) is refused with one
// line naming the reason and what to do, before anything changes; a plain
// table on the coordinator is attached, sealed and verified as on one server,
// beside the distributed audit_logs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { insertRows, newOrgId } from '../support/audit-rows.ts';
import { runCli } from '../tamper/support.ts';
import { createCitusDatabase } from './cluster.ts';

const db = await createCitusDatabase();
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-citus-attach-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cliEnv = { DATABASE_URL: db.url, AUDIT_CHAIN_DATA_DIR: dir };
const ORGS = [newOrgId(), newOrgId(), newOrgId()];

async function productTable(name: string): Promise<void> {
  await db.pool.query(
    `create table public.${name} (
       id uuid not null default gen_random_uuid(),
       org_id uuid not null,
       action text not null,
       details jsonb,
       created_at timestamptz not null default now(),
       primary key (org_id, id))`,
  );
}

async function writeProductRows(name: string, perOrg: number, action: string): Promise<void> {
  for (const org of ORGS) {
    await db.pool.query(
      `insert into public.${name} (org_id, action, details) select $1, $2 || g, jsonb_build_object('n', g) from generate_series(1, $3::int) g`,
      [org, action, perOrg],
    );
  }
}

/** What attach would change: the table's columns, its triggers, and our registry. */
async function footprint(name: string): Promise<unknown> {
  const columns = await db.pool.query<{ column_name: string }>(
    `select column_name from information_schema.columns where table_schema = 'public' and table_name = $1 order by ordinal_position`,
    [name],
  );
  const registry = await db.pool.query<{ n: number }>('select count(*)::int as n from audit_chain_tables');
  const rows = await db.pool.query<{ n: number }>(`select count(*)::int as n from public.${name}`);
  const sequences = await db.pool.query<{ n: number }>("select count(*)::int as n from pg_class where relkind = 'S' and relname like 'attach\\_%'");
  return { columns: columns.rows.map((row) => row.column_name), registry: registry.rows[0]!.n, rows: rows.rows[0]!.n, sequences: sequences.rows[0]!.n };
}

describe('attach on Citus', () => {
  test('a product table distributed by its chain key is refused with one line naming why and what to do; nothing changes (dry run too)', async () => {
    await productTable('product_audit');
    await db.pool.query("select create_distributed_table('public.product_audit', 'org_id')");
    await writeProductRows('product_audit', 5, 'before');
    const before = await footprint('product_audit');
    for (const extra of [[], ['--dry-run']]) {
      const run = await runCli(['attach', '--table', 'public.product_audit', '--org-column', 'org_id', '--order-by', 'created_at', ...extra], cliEnv);
      expect(run.code, run.stderr).toBe(1);
      const lines = run.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^audit-chain: attach refused, nothing changed: public\.product_audit is a Citus table distributed by org_id/);
      expect(lines[0]).toContain('write these events to audit_chain.audit_logs');
      expect(lines[0]).toContain("undistribute_table('public.product_audit')");
      expect(await footprint('product_audit')).toEqual(before);
    }
  });

  test('a reference table is refused the same way', async () => {
    await productTable('product_reference');
    await db.pool.query("select create_reference_table('public.product_reference')");
    await writeProductRows('product_reference', 2, 'before');
    const before = await footprint('product_reference');
    const run = await runCli(['attach', '--table', 'public.product_reference', '--org-column', 'org_id'], cliEnv);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr.trim()).toMatch(/^audit-chain: attach refused, nothing changed: public\.product_reference is a reference table, and attach supports plain tables only/);
    expect(await footprint('product_reference')).toEqual(before);
  });

  test('a plain table on the coordinator is attached, sealed and verified clean beside the distributed audit_logs', async () => {
    await productTable('coordinator_audit');
    await writeProductRows('coordinator_audit', 4, 'before');
    const attached = await runCli(['attach', '--table', 'public.coordinator_audit', '--org-column', 'org_id', '--order-by', 'created_at'], cliEnv);
    expect(attached.stderr).not.toMatch(/refused|error/i);
    expect(attached.code).toBe(0);
    await writeProductRows('coordinator_audit', 3, 'after');
    for (const org of ORGS) await insertRows(db.pool, org, 2, 'distributed.rows');
    const sealed = await runCli(['seal', '--once', '--wait-ms', '5000'], cliEnv);
    expect(sealed.code, sealed.stderr).toBe(0);
    expect(sealed.stdout).toContain('public.coordinator_audit');
    const state = await db.pool.query<{ chains: number; sealed: string }>(
      'select count(*)::int as chains, sum(sealed_rows)::text as sealed from audit_chain_table_state',
    );
    expect(state.rows[0]).toEqual({ chains: ORGS.length, sealed: String(ORGS.length * 7) });
    const verified = await runCli(['verify', '--all', '--no-record'], cliEnv);
    expect(verified.code, `${verified.stdout}\n${verified.stderr}`).toBe(0);
    expect(verified.stdout).toContain('public.coordinator_audit');
  });

  test('an attached table distributed afterwards is not sealed: seal --once names it, says why and what to do, and exits 1', async () => {
    await db.pool.query("select create_distributed_table('public.coordinator_audit', 'org_id')");
    await writeProductRows('coordinator_audit', 1, 'distributed');
    const before = await db.pool.query<{ sealed: string }>('select sum(sealed_rows)::text as sealed from audit_chain_table_state');
    const sealed = await runCli(['seal', '--once', '--wait-ms', '2000'], cliEnv);
    expect(sealed.code).toBe(1);
    expect(sealed.stderr).toContain("public.coordinator_audit is a Citus distributed or reference table (distributed after it was attached)");
    expect(sealed.stderr).toContain("undistribute_table('public.coordinator_audit')");
    const after = await db.pool.query<{ sealed: string }>('select sum(sealed_rows)::text as sealed from audit_chain_table_state');
    expect(after.rows[0]!.sealed).toBe(before.rows[0]!.sealed);
  });
});
