// The sealing worker deployment on Citus, briefly soaked: two `audit-chain
// worker` replicas (pg-boss on the coordinator) seal what writers send through
// the coordinator (commits, open transactions, rollbacks); one replica is
// killed with SIGKILL half way; the other seals everything, and verify finds
// every chain clean.
import { afterAll, expect, test } from 'vitest';
import { insertRows, newOrgId, waitFor } from '../support/audit-rows.ts';
import { connect } from '../support/database.ts';
import { checkAllChains } from '../support/chain-check.ts';
import { spawnWorker } from '../support/worker-process.ts';
import { runCli } from '../tamper/support.ts';
import { createCitusDatabase } from './cluster.ts';
import { pendingRows } from './shards.ts';

const db = await createCitusDatabase();
const workerEnv = { AUDIT_CHAIN_SEAL_POLL_MS: '50', AUDIT_CHAIN_VERIFY_CRON: 'off', LOG_LEVEL: 'error' };
const replicas = [spawnWorker(db.url, workerEnv), spawnWorker(db.url, workerEnv)];
afterAll(async () => {
  for (const replica of replicas) await replica.kill('SIGTERM');
});

async function write(orgs: string[], ms: number, writers: number): Promise<number> {
  const deadline = Date.now() + ms;
  let written = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      const client = await connect(db.url, `soak-writer-${writer}`);
      try {
        for (let round = 0; Date.now() < deadline; round += 1) {
          const org = orgs[(writer + round) % orgs.length]!;
          if (round % 5 === 4) {
            await client.query('begin');
            await insertRows(client, org, 2, 'rolled.back');
            await new Promise((resolve) => setTimeout(resolve, 30));
            await client.query('rollback');
          } else if (round % 5 === 3) {
            await client.query('begin');
            await insertRows(client, org, 1, 'slow.commit');
            await new Promise((resolve) => setTimeout(resolve, 100));
            await client.query('commit');
            written += 1;
          } else {
            await insertRows(client, org, 3, 'soak');
            written += 3;
          }
        }
      } finally {
        await client.end();
      }
    }),
  );
  return written;
}

test('two worker replicas seal what writers send through the coordinator; one is killed, the other finishes; verify is clean', async () => {
  const orgs = Array.from({ length: 8 }, () => newOrgId());
  const first = await write(orgs, 4_000, 6);
  const killed = await replicas[0]!.kill('SIGKILL');
  expect(killed).toBeNull();
  const second = await write(orgs, 4_000, 6);
  const expected = first + second;

  await waitFor('every row sealed by the surviving replica', async () => (await pendingRows(db.pool)) === 0, 90_000, 200);
  const count = await db.pool.query<{ n: number }>("select count(*)::int as n from audit_logs where action <> 'rolled.back'");
  expect(count.rows[0]!.n).toBe(expected);
  const rolled = await db.pool.query<{ n: number }>("select count(*)::int as n from audit_logs where action = 'rolled.back'");
  expect(rolled.rows[0]!.n).toBe(0);
  const check = await checkAllChains(db.pool);
  expect(check.problems).toEqual([]);
  expect(check.sealed).toBe(expected);

  const verify = await runCli(['verify', '--no-record'], { DATABASE_URL: db.url });
  expect(verify.stdout).toMatch(/no breaks/);
  expect(verify.code).toBe(0);
  expect(replicas[1]!.output()).not.toMatch(/"level":(50|60)/);
});
