// Issue 3, adversarial case 7: 32 writers across several organizations (one
// hot) with random rollbacks, savepoint rollbacks and transactions held open,
// while two worker replicas and repeated seal --once runs seal throughout. At
// the end every committed row is sealed exactly once and every chain holds.
import { pino } from 'pino';
import { afterAll, expect, test } from 'vitest';
import { sealOnce } from '@audit-chain/sealing';
import { startWorker, type RunningWorker } from '@audit-chain/worker';
import { connect, createTestDatabase } from '../support/database.ts';
import { insertRows, newOrgId, waitFor } from '../support/audit-rows.ts';
import { checkAllChains } from '../support/chain-check.ts';
import { seededRandom } from '../support/seeded-random.ts';

const db = await createTestDatabase();
const workers: RunningWorker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
});

test('32 writers with rollbacks and open transactions, sealing throughout: committed = sealed, every chain holds', { timeout: 120_000 }, async () => {
  const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);
  const hot = newOrgId();
  const orgs = [hot, null, ...Array.from({ length: 8 }, newOrgId)];
  for (let index = 0; index < 2; index += 1) {
    workers.push(
      await startWorker({
        databaseUrl: db.url,
        config: { sealing: { pollMs: 50, batchSize: 500, concurrency: 2 } },
        logger: pino({ level: 'silent' }),
        heartbeatMs: 500,
      }),
    );
  }
  const stats = { committed: 0, rolledBack: 0, savepointRollbacks: 0, heldOpen: 0 };
  let writing = true;
  const writers = Array.from({ length: 32 }, async (_, writer) => {
    const next = seededRandom(seed * 100 + writer);
    const client = await connect(db.url, `chaos writer ${writer}`);
    try {
      while (writing) {
        const org = next() < 0.5 ? hot : orgs[1 + Math.floor(next() * (orgs.length - 1))]!;
        const roll = next();
        await client.query('begin');
        const rows = (await insertRows(client, org, 1 + Math.floor(next() * 3))).length;
        if (roll < 0.15) {
          await client.query('rollback');
          stats.rolledBack += rows;
          continue;
        }
        if (roll < 0.25) {
          await client.query('savepoint s');
          const dropped = (await insertRows(client, org, 2)).length;
          await client.query('rollback to savepoint s');
          stats.savepointRollbacks += dropped;
        }
        if (roll > 0.95) {
          // Held open while others commit later chain_seq values behind it.
          stats.heldOpen += 1;
          await new Promise((resolve) => setTimeout(resolve, 200 + Math.floor(next() * 800)));
        }
        await client.query('commit');
        stats.committed += rows;
      }
    } finally {
      await client.end();
    }
  });
  const onceRuns = (async () => {
    while (writing) {
      await sealOnce(db.pool, { batchSize: 300, waitMs: 200, pollMs: 20 });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 8000));
  writing = false;
  await Promise.all([...writers, onceRuns]);

  const committedInDb = (await db.pool.query<{ n: number }>('select count(*)::int as n from audit_logs')).rows[0]!.n;
  expect(committedInDb, `seed ${seed}`).toBe(stats.committed);
  expect(stats.rolledBack + stats.savepointRollbacks, `seed ${seed}: the run made no gaps`).toBeGreaterThan(0);
  expect(stats.heldOpen, `seed ${seed}: the run held no transaction open`).toBeGreaterThan(0);

  await waitFor('every committed row to be sealed', async () => {
    const sealed = await db.pool.query<{ n: number }>('select coalesce(sum(sealed_count), 0)::int as n from audit_chain_state');
    return sealed.rows[0]!.n === committedInDb;
  }, 60_000, 200);
  const check = await checkAllChains(db.pool);
  expect(check.problems, `seed ${seed}`).toEqual([]);
  expect(check.pending, `seed ${seed}`).toBe(0);
  expect(check.sealed).toBe(committedInDb);
  const halted = await db.pool.query('select org_id from audit_chain_state where halted_at is not null');
  expect(halted.rows, `seed ${seed}`).toEqual([]);
});
