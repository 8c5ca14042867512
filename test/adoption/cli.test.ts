// `audit-chain adopt` as an operator runs it: a dry run that prints the plan
// and the forks, then the adoption, which ends with a clean verification.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, test } from 'vitest';
import { createTestDatabase } from '../support/database.ts';
import { createLegacyTable, forkStats, hammerUntilForked, LEGACY_TABLE, newOrgs } from './legacy-fixture.ts';

const CLI = fileURLToPath(new URL('../../apps/cli/bin/audit-chain.ts', import.meta.url));
const db = await createTestDatabase();

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, DATABASE_URL: db.url, AUDIT_CHAIN_DATA_DIR: '/nonexistent-audit-chain-data' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  await createLegacyTable(db.pool);
  const stats = await hammerUntilForked(db.url, { connections: 12, rowsPerConnection: 25, orgs: newOrgs(3) });
  expect(stats.forkedPredecessors).toBeGreaterThan(0);
}, 60_000);

test('adopt --dry-run prints the plan and the forks and changes nothing', async () => {
  const forks = await forkStats(db.pool);
  const result = await run(['adopt', '--table', LEGACY_TABLE, '--map', "actor_type='user'", '--dry-run']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toContain(`its insert-time chain has forked: ${forks.forkedPredecessors} predecessor checksums`);
  expect(result.stdout).toContain('audit_logs.occurred_at <- created_at');
  expect(result.stdout).toContain("audit_logs.actor_type <- 'user'");
  expect(result.stdout).toMatch(/will drop trigger audit_log_chain: CREATE TRIGGER audit_log_chain BEFORE INSERT/);
  expect((await db.pool.query('select count(*)::int as n from audit_logs')).rows[0].n).toBe(0);
});

test('adopt copies, switches, seals and verifies: exit 0, zero breaks, no row lost', async () => {
  const legacy = (await db.pool.query<{ n: number }>(`select count(*)::int as n from ${LEGACY_TABLE}`)).rows[0]!.n;
  const result = await run(['adopt', '--table', LEGACY_TABLE, '--map', "actor_type='user'", '--batch-size', '100']);
  expect(result.stderr).toMatch(/^(audit-chain: no checkpoint directory.*\n|audit-chain: no keyring.*\n)*$/);
  expect(result.code).toBe(0);
  expect(result.stdout).toContain(`adopted ${legacy} of ${legacy} legacy rows`);
  expect(result.stdout).toContain(`verified 3 chains, ${legacy} sealed rows: 0 breaks`);
  expect((await db.pool.query('select count(*)::int as n from audit_logs')).rows[0].n).toBe(legacy);
  const again = await run(['adopt', '--table', LEGACY_TABLE]);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain('status done');
});
