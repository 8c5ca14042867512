// `audit-chain resume --org`, run as a real child process: a halted chain whose
// rows verify clean resumes (and seals again); a halted chain with a tampered
// row stays halted with the break listed; the other cases end in one line.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { sealOnce } from '@audit-chain/sealing';
import { connect, createTestDatabase } from '../../../../test/support/database.ts';
import { insertRows, newOrgId } from '../../../../test/support/audit-rows.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/audit-chain.ts', import.meta.url));
const db = await createTestDatabase();
const seal = () => sealOnce(db.pool, { batchSize: 100, waitMs: 300, pollMs: 20 });

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

const halt = (org: string, reason: string) =>
  db.pool.query(`update audit_chain_state set halted_at = now(), halted_reason = $2 where org_id = $1`, [org, reason]);
const stateOf = async (org: string) =>
  (await db.pool.query<{ halted_at: Date | null; watermark_seq: string }>(`select halted_at, watermark_seq::text from audit_chain_state where org_id = $1`, [org])).rows[0]!;

test('a halted chain that verifies clean resumes, and the worker seals it again', async () => {
  const org = newOrgId();
  await insertRows(db.pool, org, 5);
  await seal();
  await halt(org, 'link mismatch while sealing');
  await insertRows(db.pool, org, 2);
  await seal();
  const halted = await stateOf(org);
  expect(halted.halted_at).not.toBeNull();

  const run = await cli(['resume', '--org', org]);
  expect(run.stderr).toMatch(/no keyring/i); // checkpoints unchecked without one: said, not hidden
  expect(run.stdout).toMatch(new RegExp(`chain ${org} resumed: 5 sealed rows verified without a break; halted since .*link mismatch while sealing`));
  expect(run.code).toBe(0);
  expect((await stateOf(org)).halted_at).toBeNull();
  const recorded = await db.pool.query(`select 1 from audit_chain_verify_status where org_id = $1 and breaks_found = 0`, [org]);
  expect(recorded.rowCount).toBe(1);

  await seal();
  expect(BigInt((await stateOf(org)).watermark_seq)).toBeGreaterThan(BigInt(halted.watermark_seq));

  const again = await cli(['resume', '--org', org]);
  expect(again).toMatchObject({ code: 0, stdout: `chain ${org} is not halted: nothing to resume\n` });
});

test('a halted chain with a tampered row stays halted and the break is listed', async () => {
  const org = newOrgId();
  await insertRows(db.pool, org, 4);
  await seal();
  const attacker = await connect(db.url, 'resume-test attacker');
  try {
    await attacker.query('begin');
    await attacker.query('set local session_replication_role = replica');
    await attacker.query(
      `update audit_logs set action = 'tampered' where org_id = $1 and chain_seq = (select min(chain_seq) + 1 from audit_logs where org_id = $1)`,
      [org],
    );
    await attacker.query('commit');
  } finally {
    await attacker.end();
  }
  await halt(org, 'operator halt');

  const run = await cli(['resume', '--org', org]);
  expect(run.code).toBe(1);
  expect(run.stderr.trim().split('\n').at(-1)).toBe(`audit-chain: chain ${org} stays halted: verification found 1 break`);
  expect(run.stdout).toMatch(/content/i);
  expect((await stateOf(org)).halted_at).not.toBeNull();
});

test('an unknown chain or a bad id: exit 2, one line, nothing changed', async () => {
  const unknown = newOrgId();
  const missing = await cli(['resume', '--org', unknown]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toBe(`audit-chain: no chain ${unknown}: it has no chain state (nothing sealed or discovered yet)\n`);
  const bad = await cli(['resume', '--org', 'not-a-uuid']);
  expect(bad.code).toBe(2);
  expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  const none = await cli(['resume']);
  expect(none.code).toBe(2);
  expect(none.stderr).toMatch(/--org/);
});
