// `audit-chain partition` as an operator runs it on a migrated database with
// rows: a dry run, the conversion, the list, and creating months ahead.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, test } from 'vitest';
import { createTestDatabase } from '../support/database.ts';
import { insertRows, newOrgId } from '../support/audit-rows.ts';

const CLI = fileURLToPath(new URL('../../apps/cli/bin/audit-chain.ts', import.meta.url));
const db = await createTestDatabase();

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: db.url }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  await insertRows(db.pool, newOrgId(), 50);
});

test('partition convert --dry-run changes nothing; convert, list and create do what they say', async () => {
  const dry = await run(['partition', 'convert', '--dry-run']);
  expect(dry.code).toBe(0);
  expect(dry.stdout).toMatch(/^would convert audit_logs into monthly partitions of recorded_at/);
  expect((await db.pool.query("select relkind::text from pg_class where oid = 'audit_logs'::regclass")).rows[0].relkind).toBe('r');

  const converted = await run(['partition', 'convert', '--months-ahead', '1']);
  expect(converted.stderr).toBe('');
  expect(converted.code).toBe(0);
  expect(converted.stdout).toContain('converted: 4 partitions; 0 links of earlier rows claimed');
  expect(converted.stdout).toMatch(/audit_logs_p_initial\s+MINVALUE \.\. \d{4}-\d\d-01T00:00:00\.000Z\s+~\d+ rows/);

  const again = await run(['partition', 'convert']);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain('audit_logs is already partitioned');

  const created = await run(['partition', 'create', '--months-ahead', '3']);
  expect(created.code).toBe(0);
  const list = await run(['partition', 'list']);
  expect(list.code).toBe(0);
  // The initial partition, this month's rows live in it; then at least 3 months ahead, and DEFAULT.
  expect(list.stdout.trim().split('\n').length).toBeGreaterThanOrEqual(5);
  expect(list.stdout.trim().split('\n').at(-1)).toMatch(/^audit_logs_pdefault\s+DEFAULT/);
  expect((await db.pool.query('select count(*)::int as n from audit_logs')).rows[0].n).toBe(50);
});
