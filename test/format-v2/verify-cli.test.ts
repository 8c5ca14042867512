// audit-chain verify: a chain the sealer halted is a failure (exit 1, break
// chain_halted), and a --org the database has never heard of is an error
// (exit 2 with a message), not "no breaks".
import { describe, expect, test } from 'vitest';
import { insertRows, newOrgId } from '../support/audit-rows.ts';
import { runCli, scratch, sealAll } from '../tamper/support.ts';

describe('verify: halted chains and unknown organizations', () => {
  test('an unknown --org exits 2 with a message; a known org with no sealed rows yet is not an error', async () => {
    const db = await scratch();
    const env = { DATABASE_URL: db.url, AUDIT_CHAIN_DATA_DIR: db.dir };
    const unknown = newOrgId();
    const run = await runCli(['verify', '--no-record', '--org', unknown], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`unknown chain ${unknown}: no audit rows, no chain state and no trusted checkpoint`);
    expect(run.stdout).not.toMatch(/no breaks/);

    const system = await runCli(['verify', '--no-record', '--org', 'system'], env);
    expect(system.code).toBe(2);
    expect(system.stderr).toMatch(/unknown chain system/);

    const pending = newOrgId();
    await insertRows(db.pool, pending, 2);
    const known = await runCli(['verify', '--no-record', '--org', pending], env);
    expect(known.code, known.stderr).toBe(0);
  });

  test('a halted chain exits 1 and names the reason; the other chains are still verified', async () => {
    const db = await scratch();
    const env = { DATABASE_URL: db.url, AUDIT_CHAIN_DATA_DIR: db.dir };
    const [halted, fine] = [newOrgId(), newOrgId()];
    await insertRows(db.pool, halted, 3);
    await insertRows(db.pool, fine, 3);
    await sealAll(db.pool);
    expect((await runCli(['verify', '--no-record'], env)).code).toBe(0);
    await db.pool.query(`update audit_chain_state set halted_at = now(), halted_reason = 'link mismatch at the watermark' where org_id = $1`, [halted]);

    const all = await runCli(['verify', '--no-record', '--json'], env);
    expect(all.code).toBe(1);
    const report = JSON.parse(all.stdout);
    expect(report.breaks).toEqual([expect.objectContaining({ kind: 'chain_halted', org_id: halted, expected: 'not halted' })]);
    expect(report.breaks[0].message).toMatch(/link mismatch at the watermark/);
    const one = await runCli(['verify', '--no-record', '--org', fine], env);
    expect(one.code).toBe(0);
    const text = await runCli(['verify', '--no-record', '--org', halted], env);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/chain_halted/);
  });
});
