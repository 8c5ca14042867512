// `audit-chain retain` as an operator runs it, with the worker's signing key and
// checkpoint directory from the environment; `audit-chain verify` afterwards
// starts each chain from its retention checkpoint and exits 0.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { sealOnce } from '@audit-chain/sealing';
import { generateSigningKeyPair } from '@audit-chain/verification';
import { createTestDatabase } from '../support/database.ts';
import { newOrgId } from '../support/audit-rows.ts';

const CLI = fileURLToPath(new URL('../../apps/cli/bin/audit-chain.ts', import.meta.url));
const db = await createTestDatabase();
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-retain-cli-'));
const pair = generateSigningKeyPair('retain-cli-1', new Date('2020-01-01T00:00:00Z'));
const keyring = join(dir, 'keyring.json');
writeFileSync(keyring, JSON.stringify([pair.keyringEntry]));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const org = newOrgId();

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        AUDIT_CHAIN_SIGNING_KEY: pair.privatePem.replaceAll('\n', '\\n'),
        AUDIT_CHAIN_SIGNING_KEY_ID: pair.keyId,
        AUDIT_CHAIN_CHECKPOINT_DIR: join(dir, 'checkpoints'),
        AUDIT_CHAIN_KEYRING_FILE: keyring,
      },
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
  await db.pool.query(
    `insert into audit_logs (org_id, actor_type, action, recorded_at)
     select $1, 'user', 'login', now() - make_interval(days => 1000 - g * 10) from generate_series(1, 60) g`,
    [org],
  );
  expect((await sealOnce(db.pool, { batchSize: 1000, waitMs: 5000, pollMs: 20 })).broken).toEqual([]);
});

test('retain --dry-run reports the prefix and deletes nothing', async () => {
  // Rows 1..59 are 990..410 days old; row 60 (400 days, the head) stays whatever its age.
  const result = await run(['retain', '--older-than', '400d', '--dry-run']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(new RegExp(`would delete 59 rows of chain ${org} up to chain_seq \\d+`));
  expect((await db.pool.query('select count(*)::int as n from audit_logs')).rows[0].n).toBe(60);
});

test('retain deletes after signing and exporting; verify then starts from the checkpoint and exits 0', async () => {
  const result = await run(['retain', '--older-than', '505d', '--batch-rows', '20']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  // 1000 - 10 g > 505 days: g <= 49, 49 rows, in cuts of 20, 20 and 9.
  expect(result.stdout).toContain(`deleted 49 rows recorded before`);
  expect(result.stdout.match(/deleted \d+ rows of chain/g)).toHaveLength(3);
  expect((await db.pool.query('select count(*)::int as n from audit_logs')).rows[0].n).toBe(11);
  const verify = await run(['verify', '--checkpoints', join(dir, 'checkpoints')]);
  expect(verify.code).toBe(0);
  expect(verify.stdout).toMatch(/0 breaks|no breaks|clean/i);
});

test('retain with a bad duration exits 1 with one line', async () => {
  const result = await run(['retain', '--older-than', '400 days']);
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/^audit-chain: --older-than: got "400 days", want a number and a unit/);
});
