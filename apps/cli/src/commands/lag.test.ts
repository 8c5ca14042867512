// `audit-chain lag` and `status`, run as real child processes against a seeded
// database, compared with what the admin API serves for the same request.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildServer } from '@audit-chain/api';
import { loadConfig } from '@audit-chain/config';
import { HorizonTracker, advanceHorizonAndDiscover, sealOnce } from '@audit-chain/sealing';
import { connect, createTestDatabase } from '../../../../test/support/database.ts';
import { insertRows, newOrgId, waitFor } from '../../../../test/support/audit-rows.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/audit-chain.ts', import.meta.url));
const ADMIN_TOKEN = 'cli-test-admin-token';

const db = await createTestDatabase();
const api = buildServer({ pool: db.pool, config: loadConfig({ AUDIT_CHAIN_ADMIN_TOKEN: ADMIN_TOKEN }), logger: false, adminSampleIntervalMs: 0 });
const orgs = [newOrgId(), newOrgId(), newOrgId()];
const holder = await connect(db.url, 'cli-lag-holder');

beforeAll(async () => {
  for (const org of orgs) await insertRows(db.pool, org, 3);
  await insertRows(db.pool, null, 2);
  await sealOnce(db.pool, { batchSize: 100, waitMs: 500, pollMs: 20 });
  // Four rows of one chain counted into it but not sealed: the worst chain.
  await insertRows(db.pool, orgs[1]!, 4);
  const tracker = new HorizonTracker();
  await waitFor('discovery at the head', async () => {
    const step = await advanceHorizonAndDiscover(db.pool, tracker);
    return step.horizon >= step.head;
  });
  // A transaction holding the horizon back, so the holder shows in both outputs.
  await holder.query('begin');
  await insertRows(holder, orgs[2]!, 1);
  await insertRows(db.pool, orgs[0]!, 2);
  await advanceHorizonAndDiscover(db.pool, tracker);
});

afterAll(async () => {
  await holder.query('rollback').catch(() => {});
  await holder.end();
  await api.close();
});

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

async function adminJson(url: string): Promise<unknown> {
  const response = await api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(response.statusCode).toBe(200);
  return response.json();
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

test('lag --json is the admin API\'s overview, page by page', async () => {
  const run = await cli(['lag', '--json', '--limit', '2']);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const fromCli = JSON.parse(run.stdout);
  const fromApi = (await adminJson('/admin/v1/lag?limit=2')) as { next_cursor: string; chains: { chain: string }[] };
  expect(stable(fromCli)).toEqual(stable(fromApi));
  expect(fromApi.chains[0]?.chain).toBe(orgs[1]);
  expect(fromCli.horizon.holders[0]).toMatchObject({ application_name: 'cli-lag-holder', pid: expect.any(Number) });

  const next = JSON.parse((await cli(['lag', '--json', '--limit', '2', '--cursor', fromApi.next_cursor])).stdout);
  expect(stable(next)).toEqual(stable(await adminJson(`/admin/v1/lag?limit=2&cursor=${fromApi.next_cursor}`)));
});

test('lag --org and status --json match their admin routes', async () => {
  const detail = await cli(['lag', '--org', orgs[1]!, '--json']);
  expect(stable(JSON.parse(detail.stdout))).toEqual(stable(await adminJson(`/admin/v1/lag/${orgs[1]}`)));
  const system = await cli(['lag', '--org', 'system', '--json']);
  expect(system.stderr).toBe('');
  expect(JSON.parse(system.stdout).chain).toMatchObject({ chain: 'system', sealed_rows: 2 });

  const status = await cli(['status', '--json', '--window', '0']);
  expect(status.code).toBe(0);
  expect(stable(JSON.parse(status.stdout))).toEqual(stable(await adminJson('/admin/v1/status')));
});

test('lag prints an aligned table, worst chain first, and the holder', async () => {
  const run = await cli(['lag']);
  expect(run.code).toBe(0);
  const lines = run.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^horizon \d+ of head \d+ \(\d+ behind, rows waiting .*: open writers\)$/);
  expect(lines[1]).toMatch(/held by pid \d+ cli-lag-holder \(postgres\), idle in transaction, transaction open/);
  const header = lines.findIndex((line) => line.startsWith('TABLE'));
  const table = lines.slice(header, header + 5);
  expect(table.slice(1).map((line) => line.split(/\s+/)[0])).toEqual(Array(4).fill('audit_chain.audit_logs'));
  const chains = table.slice(1).map((line) => line.split(/\s+/)[1]);
  expect(chains[0]).toBe(orgs[1]);
  expect([...chains].sort()).toEqual([...orgs, 'system'].sort());
  // Right-aligned numbers: every row's PENDING column ends where the header's does.
  const end = table[0]!.indexOf('PENDING') + 'PENDING'.length;
  for (const row of table.slice(1)) expect(row.slice(end - 1, end), row).toMatch(/\d/);
  const pending = table.slice(1).map((row) => Number(row.slice(0, end).trim().split(/\s+/).at(-1)));
  // orgs[0]'s two rows committed behind the open transaction: held, but listed.
  expect(pending).toEqual([4, 2, 0, 0]);
  expect(chains[1]).toBe(orgs[0]);
});

test('status prints one screen with every section, and bad arguments fail in one line', async () => {
  const run = await cli(['status', '--window', '0.2']);
  expect(run.code).toBe(0);
  const text = run.stdout;
  for (const part of [/^horizon /m, /^pending /m, /^tables:\n {2}audit_chain\.audit_logs: /m, /rows\/s over/, /^seal latency/m, /^workers/m, /^last checkpoint/m, /^verification/m, /^halted chains/m]) {
    expect(text).toMatch(part);
  }
  expect(text.trimEnd().split('\n').length).toBeLessThan(25);

  const bad = await cli(['lag', '--org', 'nope']);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  const missing = await cli(['lag', '--org', newOrgId()]);
  expect([missing.code, missing.stderr.trim()]).toEqual([1, expect.stringMatching(/^audit-chain: no audit rows for chain /)]);
});
