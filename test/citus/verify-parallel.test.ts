// Parallel verification (`audit-chain verify --jobs N`, worker threads that read
// and hash segments of the chains) gives the same report as the sequential one
// (--jobs 1) on a Citus cluster: chains on both workers, redacted rows, a
// retention cut, signed checkpoints, then rows tampered with on the workers,
// verified at several segment sizes (seams anywhere, including at a tampered
// row), every chain and one chain, from the start and from the latest checkpoint;
// and the command itself, `verify --jobs 2` against `--jobs 1`, on more sealed
// rows than the threshold below which it stays sequential.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { redactRow, retainChains } from '@audit-chain/lifecycle';
import { sealOnce } from '@audit-chain/sealing';
import { describeReport, DirectoryCheckpointSink, PARALLEL_MIN_ROWS, generateSigningKeyPair, loadSigningKey, reportJson, runCheckpointRound, runVerification, type RecordedRunOptions } from '@audit-chain/verification';
import { insertRows } from '../support/audit-rows.ts';
import { connect } from '../support/database.ts';
import { runCli } from '../tamper/support.ts';
import { createCitusDatabase } from './cluster.ts';
import { orgsOnDifferentWorkers, shardOf, workerUrlOf } from './shards.ts';

const db = await createCitusDatabase({ shardCount: 8 });
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-citus-verify-parallel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pair = generateSigningKeyPair('citus-parallel-1', new Date('2020-01-01T00:00:00Z'));
const signer = loadSigningKey({ pem: pair.privatePem, keyId: pair.keyId })!;
const keyring = [pair.keyringEntry];
const sink = new DirectoryCheckpointSink(dir);
const [orgA, orgB] = await orgsOnDifferentWorkers(db.pool);
const [orgC] = await orgsOnDifferentWorkers(db.pool);
const orgs = [orgA, orgB, orgC];

async function seal(): Promise<void> {
  expect((await sealOnce(db.pool, { batchSize: 50, waitMs: 10_000, pollMs: 20 })).broken).toEqual([]);
}

/** Runs `sql` on the worker holding `orgId`'s shard, triggers bypassed (an attacker with the worker's superuser). */
async function onWorker(orgId: string, sql: (shard: string) => string, values: unknown[]): Promise<void> {
  const shard = await shardOf(db.pool, orgId);
  const worker = await connect(workerUrlOf(db, shard.nodeport), 'attacker');
  try {
    await worker.query('begin');
    await worker.query('set local session_replication_role = replica');
    await worker.query('set local citus.enable_manual_changes_to_shards = on');
    const changed = await worker.query(sql(shard.shardName), values);
    expect(changed.rowCount).toBe(1);
    await worker.query('commit');
  } finally {
    await worker.end();
  }
}

async function seqAt(orgId: string, offset: number): Promise<string> {
  return (await db.pool.query<{ chain_seq: string }>('select chain_seq::text from audit_logs where org_id = $1 order by chain_seq offset $2 limit 1', [orgId, offset])).rows[0]!.chain_seq;
}

async function compare(options: RecordedRunOptions, segmentRows: number) {
  const sequential = await runVerification(db.pool, options);
  const parallel = await runVerification(db.pool, { ...options, parallel: { databaseUrl: db.url, threads: 2, segmentRows, window: 3, minRows: 0 } });
  expect(reportJson(parallel)).toEqual(reportJson(sequential));
  expect(describeReport(parallel)).toEqual(describeReport(sequential));
  return sequential;
}

const common: RecordedRunOptions = { keyring, checkpointSources: { directories: [{ path: dir, required: true }], table: true }, record: null, keepBreaks: 1000 };

beforeAll(async () => {
  // Old rows first (for the retention cut), then a first seal, checkpoints, more rows.
  await db.pool.query(
    `insert into audit_logs (org_id, actor_type, actor_id, actor_email, action, ip_address, user_agent, recorded_at)
     select $1, 'user', 'u-' || g, 'u' || g || '@example.com', 'old.event', '192.0.2.1', 'agent', now() - make_interval(days => 1000 - g)
       from generate_series(1, 15) g`,
    [orgA],
  );
  for (const org of orgs) await insertRows(db.pool, org, 40);
  await seal();
  await runCheckpointRound(db.pool, { signer, sinks: [sink], policy: 'requested', waitForLock: true });
  for (const org of orgs) await insertRows(db.pool, org, 25);
  await seal();
  // A retention cut in orgA's chain, and a redacted row on each worker.
  const retained = await retainChains(db.pool, { olderThan: new Date(Date.now() - 500 * 86_400_000), orgId: orgA, signer, keyring, sinks: [sink] });
  expect([retained.deleted, retained.failed]).toEqual([15, 0]);
  for (const org of [orgA, orgB]) {
    const id = (await db.pool.query<{ id: string }>('select id::text from audit_logs where org_id = $1 and checksum is not null order by chain_seq offset 10 limit 1', [org])).rows[0]!.id;
    await redactRow(db.pool, { rowId: id, fields: ['actor_email', 'ip_address', 'user_agent'] });
  }
  await seal();
  await runCheckpointRound(db.pool, { signer, sinks: [sink], policy: 'requested', waitForLock: true });
  await insertRows(db.pool, orgC, 3); // left pending
});

describe('verify --jobs 2 gives the --jobs 1 report on Citus', () => {
  test('clean chains (a retention cut, redacted rows, pending rows), at several segment sizes, every chain and one', async () => {
    for (const segmentRows of [3, 50]) {
      const report = await compare(common, segmentRows);
      expect(report.breaks).toEqual([]);
      expect(report.totals.redacted).toBe(2);
      expect(report.totals.pending).toBe(3);
    }
    await compare({ ...common, orgId: orgB }, 9);
    await compare({ ...common, fromCheckpoint: true }, 5);
  });

  test('rows tampered with on both workers: the same breaks, at seams anywhere and right at a tampered row', async () => {
    await onWorker(orgA, (shard) => `update ${shard} set action = 'forged' where org_id = $1 and chain_seq = $2`, [orgA, await seqAt(orgA, 20)]);
    await onWorker(orgB, (shard) => `delete from ${shard} where org_id = $1 and chain_seq = $2`, [orgB, await seqAt(orgB, 30)]);
    await onWorker(orgC, (shard) => `update ${shard} set actor_email = 'someone@else.example' where org_id = $1 and chain_seq = $2`, [orgC, await seqAt(orgC, 5)]);
    for (const segmentRows of [2, 20, 30]) {
      const report = await compare(common, segmentRows);
      expect(new Set(report.breaks.map((found) => found.orgId))).toEqual(new Set(orgs));
    }
    await compare({ ...common, orgId: orgC }, 5);
    await compare({ ...common, fromCheckpoint: true }, 4);
  });

  test('`audit-chain verify --jobs 2` prints the `--jobs 1` report, with more sealed rows than the threshold that starts worker threads', async () => {
    await db.pool.query(
      `insert into audit_logs (org_id, actor_type, actor_id, action)
       select $1::uuid, 'user', 'u-' || g, 'bulk.event' from generate_series(1, $2::int) g`,
      [orgC, PARALLEL_MIN_ROWS],
    );
    expect((await sealOnce(db.pool, { batchSize: 5000, waitMs: 10_000, pollMs: 20 })).broken).toEqual([]);
    const keyringFile = join(dir, '..', `${pair.keyId}-keyring.json`);
    writeFileSync(keyringFile, JSON.stringify(keyring));
    try {
      const env = { DATABASE_URL: db.url, AUDIT_CHAIN_DATA_DIR: dir };
      const args = ['verify', '--json', '--no-record', '--keyring', keyringFile, '--checkpoints', dir];
      const one = await runCli([...args, '--jobs', '1'], env);
      const two = await runCli([...args, '--jobs', '2'], env);
      expect(two.code).toBe(one.code);
      expect(one.code).toBe(1); // the tampering of the test before
      expect(two.stderr).toBe(one.stderr);
      expect(JSON.parse(two.stdout)).toEqual(JSON.parse(one.stdout));
      const report = JSON.parse(one.stdout) as { totals: { sealed: number } };
      expect(report.totals.sealed).toBeGreaterThan(PARALLEL_MIN_ROWS);
    } finally {
      rmSync(keyringFile, { force: true });
    }
  });
});
