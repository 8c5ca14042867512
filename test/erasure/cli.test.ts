// `audit-chain redact` as an operator runs it: one line saying what was erased
// and where the redaction is recorded; refusals exit 1 with one line.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, test } from 'vitest';
import { sealOnce } from '@audit-chain/sealing';
import { createTestDatabase } from '../support/database.ts';
import { insertRows, newOrgId } from '../support/audit-rows.ts';

const CLI = fileURLToPath(new URL('../../apps/cli/bin/audit-chain.ts', import.meta.url));
const db = await createTestDatabase();
const org = newOrgId();
let ids: string[] = [];

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
  await insertRows(db.pool, org, 3);
  expect((await sealOnce(db.pool, { batchSize: 100, waitMs: 5000, pollMs: 20 })).broken).toEqual([]);
  ids = (await db.pool.query<{ id: string }>('select id from audit_logs order by chain_seq')).rows.map((row) => row.id);
});

test('redact erases the fields and says where the redaction is recorded', async () => {
  const result = await run(['redact', '--id', ids[1]!, '--fields', 'actor_email,ip_address,user_agent', '--reason', 'erasure request 17']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(new RegExp(`^redacted row ${ids[1]} \\(chain ${org}, chain_seq \\d+\\): erased actor_email, ip_address, user_agent and pii_salt\\nrecorded as audit row [0-9a-f-]{36} \\(chain_seq \\d+\\)\\n$`));
  const row = (await db.pool.query('select actor_email, ip_address, user_agent, pii_salt from audit_logs where id = $1', [ids[1]])).rows[0];
  expect(row).toEqual({ actor_email: null, ip_address: null, user_agent: null, pii_salt: null });
});

test('a refused redaction exits 1 with the reason on one line', async () => {
  const again = await run(['redact', '--id', ids[1]!]);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/^audit-chain: redact: row .* is already redacted\n$/);
  const field = await run(['redact', '--id', ids[0]!, '--fields', 'action']);
  expect(field.code).toBe(1);
  expect(field.stderr).toMatch(/^audit-chain: --fields: got action, want some of actor_email, ip_address, user_agent/);
});
