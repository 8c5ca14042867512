// `verify` streams: a chain of 200,000 rows verifies in a process whose heap is
// capped at 64 MB, where merely loading the same rows at once runs out of memory.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { insertRows, newOrgId } from '../support/audit-rows.ts';
import { newKey, runCli, scratch, sealAll, signHeads, writeKeyring } from './support.ts';

const ROWS = 200_000;
const HEAP = ['--max-old-space-size=64'];

describe('a large chain', { timeout: 600_000 }, () => {
  test(`${ROWS} rows verify under a 64 MB heap; loading them at once does not fit`, async () => {
    const db = await scratch();
    const org = newOrgId();
    for (let written = 0; written < ROWS; written += 50_000) await insertRows(db.pool, org, 50_000, 'bulk.event');
    await sealAll(db.pool, 10_000);
    const key = newKey('large-chain-key');
    await signHeads(db.pool, key, join(db.dir, 'checkpoints'));
    const keyring = writeKeyring(db.dir, 'keyring.json', [{ keyId: key.keyId, publicKey: key.publicPem, validFrom: '2000-01-01T00:00:00Z' }]);

    const started = Date.now();
    const run = await runCli(['verify', '--json', '--no-record', '--keyring', keyring, '--org', org], { DATABASE_URL: db.url, AUDIT_CHAIN_DATA_DIR: db.dir }, HEAP);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    const report = JSON.parse(run.stdout) as { ok: boolean; totals: { sealed: number }; checkpoints: { trusted: number } };
    expect(report).toMatchObject({ ok: true, totals: { sealed: ROWS }, checkpoints: { trusted: 1 } });
    console.info(`verified ${ROWS} rows in ${Date.now() - started} ms under a 64 MB heap`);

    // The control: the same rows read in one result set exhaust the same heap, so the test above measures streaming.
    const control = await loadAllRows(db.url, org);
    expect(control.code, 'loading every row at once under a 64 MB heap was expected to run out of memory').not.toBe(0);
    expect(control.stderr).toMatch(/heap out of memory|Allocation failed/i);
  });
});

function loadAllRows(url: string, org: string): Promise<{ code: number | null; stderr: string }> {
  const pgEntry = fileURLToPath(import.meta.resolve('pg'));
  const script = `
    const pg = (await import(${JSON.stringify(pgEntry)})).default;
    const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    const result = await client.query("select * from audit_chain.audit_logs where org_id = $1 order by chain_seq", [process.env.ORG]);
    console.log(result.rows.length);
    await client.end();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...HEAP, '--input-type=module', '-e', script], { env: { PATH: process.env.PATH ?? '', DATABASE_URL: url, ORG: org } });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}
