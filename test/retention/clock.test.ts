// `audit-chain retain` on a chosen day: the command's clock is injected, the
// rows are recorded around its limit, and the session runs in a time zone whose
// DST change falls inside the window. --older-than is an exact duration (1d is
// 86,400 s, also across a DST change), and a row recorded exactly at the limit
// is kept: only rows recorded strictly before it are deleted.
import { expect, test } from 'vitest';
import { sealOnce } from '@audit-chain/sealing';
import { withSessionSetting } from '@audit-chain/db';
import { main } from '../../apps/cli/src/main.ts';
import { createTestDatabase } from '../support/database.ts';
import { newOrgId } from '../support/audit-rows.ts';

const db = await createTestDatabase();

async function retainDryRun(now: string, olderThan: string, org: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'audit-chain', 'retain', '--older-than', olderThan, '--dry-run', '--org', org], {
    env: { DATABASE_URL: withSessionSetting(db.url, 'TimeZone', 'Europe/Berlin') },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    now: () => new Date(now),
  });
  return { code, stdout, stderr };
}

async function chainRecordedAt(instants: string[]): Promise<string> {
  const org = newOrgId();
  for (const at of instants) await db.pool.query(`insert into audit_logs (org_id, actor_type, action, recorded_at) values ($1, 'user', 'login', $2)`, [org, at]);
  expect((await sealOnce(db.pool, { batchSize: 100, waitMs: 5000, pollMs: 20 })).broken).toEqual([]);
  return org;
}

// Berlin moves to summer time at 2028-03-26T01:00Z: the day before "now" is 23 hours long there.
const NOW = '2028-03-26T12:00:00Z';

test.each([
  ['1d', '2028-03-25T12:00:00Z'],
  ['24h', '2028-03-25T12:00:00Z'],
  ['86400s', '2028-03-25T12:00:00Z'],
  ['1w', '2028-03-19T12:00:00Z'],
])('--older-than %s on the day of a DST change cuts at %s exactly, keeping the row recorded at the limit', async (olderThan, limit) => {
  const at = (offsetMs: number) => new Date(new Date(limit).getTime() + offsetMs).toISOString();
  const org = await chainRecordedAt([at(-86_400_000), at(-1), at(0), at(3_600_000)]);
  const result = await retainDryRun(NOW, olderThan, org);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(new RegExp(`would delete 2 rows of chain ${org} up to chain_seq \\d+`));
  expect(result.stdout).toContain(`would delete 2 rows recorded before ${new Date(limit).toISOString()}`);
  expect((await db.pool.query('select count(*)::int as n from audit_logs where org_id = $1', [org])).rows[0].n).toBe(4);
});

test('on 29 February and 31 December the limit is the same instant arithmetic', async () => {
  for (const [now, limit] of [
    ['2028-02-29T00:00:00Z', '2028-02-28T00:00:00Z'],
    ['2027-01-01T00:00:00Z', '2026-12-31T00:00:00Z'],
  ] as const) {
    const org = await chainRecordedAt([new Date(new Date(limit).getTime() - 1).toISOString(), limit, now]);
    const result = await retainDryRun(now, '1d', org);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`would delete 1 rows recorded before ${new Date(limit).toISOString()}`);
  }
});
