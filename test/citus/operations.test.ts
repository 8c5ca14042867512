// audit-chain on a Citus cluster, end to end: many writers through the
// coordinator (commits, two-phase commits across workers, rollbacks, savepoints,
// a killed backend) while sealing runs, then verify, lag and status through the
// command line; a tampered row on a worker is found by verify; the operations
// audit-chain does not offer on Citus refuse with one line and change nothing
// (retention and erasure of audit_logs: retention.test.ts, erasure.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { sealOnce } from '@audit-chain/sealing';
import { seededRandom } from '../support/seeded-random.ts';
import { insertRows, newOrgId } from '../support/audit-rows.ts';
import { connect } from '../support/database.ts';
import { checkAllChains } from '../support/chain-check.ts';
import { newKey, runCli, signHeads, writeKeyring, type JsonReport } from '../tamper/support.ts';
import { ADMIN, WRITE_TOKEN, adminServer } from '../../apps/api/src/admin/test-support.ts';
import { isSystemChainRefusal } from '@audit-chain/citus';
import { createCitusDatabase } from './cluster.ts';
import { pendingRows, shardOf, workerUrlOf } from './shards.ts';

const db = await createCitusDatabase();
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-citus-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const key = newKey('citus-test-key');
const checkpointDir = join(dir, 'checkpoints');
const keyringFile = writeKeyring(dir, 'keyring.json', [{ keyId: key.keyId, publicKey: key.publicPem, validFrom: '2000-01-01T00:00:00Z' }]);
const SEED = Number(process.env.CITUS_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
const cliEnv = { DATABASE_URL: db.url, AUDIT_CHAIN_DATA_DIR: dir };

async function verifyJson(): Promise<JsonReport & { code: number | null; stderr: string }> {
  const run = await runCli(['verify', '--json', '--no-record', '--keyring', keyringFile, '--checkpoints', checkpointDir], cliEnv);
  return { ...(JSON.parse(run.stdout) as JsonReport), code: run.code, stderr: run.stderr };
}

describe(`audit-chain on Citus (seed ${SEED})`, () => {
  const orgs = Array.from({ length: 12 }, () => newOrgId());
  const committed = new Set<string>();
  const rolledBack = new Set<string>();

  test('many writers through the coordinator, with two-phase commits, rollbacks and a killed backend, while sealing runs: every committed row sealed, in order, nothing else', async () => {
    const random = seededRandom(SEED);
    const writers = 16;
    const rounds = 25;
    let writing = true;
    const sealing = (async () => {
      let passes = 0;
      while (writing || passes === 0) {
        const result = await sealOnce(db.pool, { batchSize: 200, waitMs: 0, pollMs: 10 });
        if (result.broken.length > 0) throw new Error(`sealing broke chains: ${result.broken.map((error) => error.message).join('; ')}`);
        passes += 1;
      }
      return passes;
    })();
    const work = Array.from({ length: writers }, async (_, writer) => {
      const client = await connect(db.url, `citus-writer-${writer}`);
      try {
        for (let round = 0; round < rounds; round += 1) {
          const choice = random();
          const orgA = orgs[Math.floor(random() * orgs.length)]!;
          const orgB = orgs[Math.floor(random() * orgs.length)]!;
          const action = `w${writer}.r${round}`;
          if (choice < 0.4) {
            await insertRows(client, orgA, 1 + Math.floor(random() * 3), action);
            committed.add(action);
          } else if (choice < 0.6) {
            // Two organizations in one transaction: usually two workers, a two-phase commit.
            await client.query('begin');
            await insertRows(client, orgA, 1, action);
            await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 20)));
            await insertRows(client, orgB, 1, action);
            await client.query('commit');
            committed.add(action);
          } else if (choice < 0.8) {
            await client.query('begin');
            await insertRows(client, orgA, 2, `${action}.rolled`);
            await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 20)));
            await client.query('rollback');
            rolledBack.add(`${action}.rolled`);
          } else {
            await client.query('begin');
            await insertRows(client, orgA, 1, action);
            await client.query('savepoint s');
            await insertRows(client, orgB, 1, `${action}.rolled`);
            await client.query('rollback to savepoint s');
            await client.query('commit');
            committed.add(action);
            rolledBack.add(`${action}.rolled`);
          }
        }
      } finally {
        await client.end();
      }
    });
    // A writer whose backend is killed while its transaction is open.
    const victim = await connect(db.url, 'citus-victim');
    await victim.query('begin');
    await insertRows(victim, orgs[0]!, 2, 'killed.writer');
    rolledBack.add('killed.writer');
    const killed = await db.pool.query<{ ok: boolean }>(
      "select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = 'citus-victim'",
    );
    expect(killed.rows[0]?.ok).toBe(true);
    await victim.end().catch(() => {});

    await Promise.all(work);
    writing = false;
    expect(await sealing).toBeGreaterThan(0);
    const final = await sealOnce(db.pool, { batchSize: 500, waitMs: 10_000, pollMs: 20 });
    expect(final.holders).toEqual([]);
    expect(final.broken).toEqual([]);

    expect(await pendingRows(db.pool)).toBe(0);
    const actions = await db.pool.query<{ action: string }>('select distinct action from audit_logs where org_id = any($1::uuid[])', [orgs]);
    const present = new Set(actions.rows.map((row) => row.action));
    for (const action of committed) expect(present.has(action), `committed ${action} is present`).toBe(true);
    for (const action of rolledBack) expect(present.has(action), `rolled back ${action} is absent`).toBe(false);
    const check = await checkAllChains(db.pool);
    expect(check.problems).toEqual([]);
    expect(check.pending).toBe(0);
    expect(check.sealed).toBeGreaterThan(writers * rounds * 0.5);
  });

  test('checkpoints are signed and `audit-chain verify` finds every chain clean', async () => {
    await signHeads(db.pool, key, checkpointDir);
    const report = await verifyJson();
    expect(report.breaks).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.code).toBe(0);
    expect(report.totals.chains).toBe(orgs.length);
    expect(report.totals.pending).toBe(0);
  });

  test('`audit-chain status` works on the coordinator', async () => {
    const status = await runCli(['status', '--json', '--window', '0'], cliEnv);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    const citus = await runCli(['citus', 'status'], cliEnv);
    expect(citus.code).toBe(0);
    expect(citus.stdout).toMatch(/audit_logs distributed by org_id in \d+ shards/);
  });

  test('no fork: a second row linked to the same predecessor in a chain is refused by the unique index on its shard', async () => {
    const org = orgs[3]!;
    const [pending] = await insertRows(db.pool, org, 1, 'would.fork');
    const linked = await db.pool.query<{ prev_checksum: string }>(
      'select prev_checksum from audit_logs where org_id = $1 and checksum is not null order by chain_seq desc limit 1',
      [org],
    );
    await expect(
      db.pool.query(
        `update audit_logs set prev_checksum = $3, checksum = repeat('f', 64), checksum_version = 1, pii_digest = repeat('0', 64), pii_salt = repeat('0', 32)
          where org_id = $1 and chain_seq = $2`,
        [org, pending!.toString(), linked.rows[0]!.prev_checksum],
      ),
    ).rejects.toThrow(/audit_logs_chain_link_unique/);
    const final = await sealOnce(db.pool, { batchSize: 500, waitMs: 10_000, pollMs: 20 });
    expect(final.broken).toEqual([]);
    expect(await pendingRows(db.pool)).toBe(0);
  });

  test('the API on the coordinator: writes, status, the per-chain lag and /metrics work', async () => {
    const app = adminServer(db.pool);
    try {
      const written = await app.inject({
        method: 'POST',
        url: '/v1/audit-events',
        headers: { authorization: `Bearer ${WRITE_TOKEN}` },
        payload: { org_id: orgs[4], actor_type: 'user', actor_id: 'u-1', action: 'api.on.citus' },
      });
      expect(written.statusCode, written.body).toBe(201);
      const status = await app.inject({ method: 'GET', url: '/admin/v1/status', headers: ADMIN });
      expect(status.statusCode, status.body).toBe(200);
      const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: ADMIN });
      expect(metrics.statusCode, metrics.body).toBe(200);
      expect(metrics.body).toMatch(/audit_chain_/);
      for (const url of ['/admin/v1/lag', `/admin/v1/lag/${orgs[4]}`]) {
        const lag = await app.inject({ method: 'GET', url, headers: ADMIN });
        expect(lag.statusCode, lag.body).toBe(200);
      }
    } finally {
      await app.close();
    }
    const final = await sealOnce(db.pool, { batchSize: 500, waitMs: 10_000, pollMs: 20 });
    expect(final.broken).toEqual([]);
  });

  test('through the coordinator, even a superuser cannot change a row: the append-only trigger runs on the shards', async () => {
    const org = orgs[1]!;
    await expect(db.pool.query("update audit_logs set action = 'forged' where org_id = $1", [org])).rejects.toThrow(/append-only/);
    await expect(db.pool.query('delete from audit_logs where org_id = $1', [org])).rejects.toThrow(/append-only/);
  });

  test('a row changed directly on its worker, triggers bypassed, is found by verify', async () => {
    const org = orgs[2]!;
    const shard = await shardOf(db.pool, org);
    const target = await db.pool.query<{ chain_seq: string }>(
      'select chain_seq::text from audit_logs where org_id = $1 order by chain_seq offset 1 limit 1',
      [org],
    );
    const seq = target.rows[0]!.chain_seq;
    const worker = await connect(workerUrlOf(db, shard.nodeport), 'attacker');
    try {
      await worker.query('begin');
      await worker.query('set local session_replication_role = replica');
      await worker.query('set local citus.enable_manual_changes_to_shards = on');
      const changed = await worker.query(`update ${shard.shardName} set action = 'forged.on.worker' where org_id = $1 and chain_seq = $2`, [org, seq]);
      expect(changed.rowCount).toBe(1);
      await worker.query('commit');
    } finally {
      await worker.end();
    }
    const report = await verifyJson();
    expect(report.ok).toBe(false);
    expect(report.code).not.toBe(0);
    expect(report.breaks.some((found) => found.org_id === org && found.chain_seq === seq)).toBe(true);
  });
});

describe('what audit-chain does not offer on Citus', () => {
  test('retain and redact of an attached table, adopt and partition refuse with one line naming the reason, and change nothing', async () => {
    const before = await db.pool.query<{ n: string }>('select count(*)::text as n from audit_logs');
    const runs = {
      retainTable: await runCli(['retain', '--older-than', '1d', '--table', 'public.product_events'], cliEnv),
      redactTable: await runCli(['redact', '--table', 'public.product_events', '--seq', '1', '--fields', 'email'], cliEnv),
      adopt: await runCli(['adopt', '--table', 'legacy_audit'], cliEnv),
      partition: await runCli(['partition', 'convert'], cliEnv),
    };
    for (const [name, run] of Object.entries(runs)) {
      expect(run.code, `${name}: ${run.stderr}`).not.toBe(0);
      const lines = run.stderr.trim().split('\n');
      expect(lines, name).toHaveLength(1);
      expect(lines[0], name).toMatch(new RegExp(`^audit-chain: .*not supported on Citus`));
    }
    const after = await db.pool.query<{ n: string }>('select count(*)::text as n from audit_logs');
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });

  test('a row written through a worker (its own identity range) is refused, so none waits unsealed for ever', async () => {
    const worker = await connect(db.workerUrls[0]!, 'worker-writer');
    try {
      await expect(insertRows(worker, newOrgId(), 1)).rejects.toThrow(/audit_logs_chain_seq_from_coordinator/);
    } finally {
      await worker.end();
    }
  });

  test('a row for the system chain (org_id NULL) is refused: the chain key is the distribution column; the API says so in a 400, nothing written', async () => {
    const before = await db.pool.query<{ n: string }>('select count(*)::text as n from audit_logs');
    const refused = await insertRows(db.pool, null, 1).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(/the partition column of table audit_chain.audit_logs cannot be NULL/);
    expect(isSystemChainRefusal(refused)).toBe(true);
    const app = adminServer(db.pool);
    try {
      const auth = { authorization: `Bearer ${WRITE_TOKEN}` };
      const event = { actor_type: 'user', actor_id: 'u-1', action: 'system.event' };
      for (const payload of [{ ...event, org_id: null }, { events: [{ ...event, org_id: newOrgId() }, { ...event, org_id: null }] }]) {
        const written = await app.inject({ method: 'POST', url: '/v1/audit-events', headers: auth, payload });
        expect(written.statusCode, written.body).toBe(400);
        expect(written.json()).toMatchObject({
          error: 'not_supported_on_citus',
          message: expect.stringMatching(/^the system chain \(org_id null\) is not supported on Citus: audit_logs is distributed by org_id.*; nothing was written$/),
        });
      }
    } finally {
      await app.close();
    }
    const after = await db.pool.query<{ n: string }>('select count(*)::text as n from audit_logs');
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });
});

