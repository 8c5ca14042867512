// Retention (audit-chain retain) on a Citus cluster, audit_logs distributed by
// org_id: each chain's old sealed prefix leaves its shard, on either worker,
// only after a signed checkpoint at the cut was recorded and exported; the cut
// (a reference table row) and the cut's name (SET LOCAL, propagated to the
// workers) are what the shards' append-only triggers check. Verification then
// starts each chain at its latest cut and is clean; a row put back below a cut
// on a worker and a cut no trusted checkpoint confirms are reported; every
// other DELETE is still refused on the shards, and a refused run changes nothing.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { retainChains, type RetentionSink } from '@audit-chain/lifecycle';
import { sealOnce } from '@audit-chain/sealing';
import { DirectoryCheckpointSink, generateSigningKeyPair, loadSigningKey, runCheckpointRound, verifyChains } from '@audit-chain/verification';
import { connect } from '../support/database.ts';
import { createPool } from '@audit-chain/db';
import { randomBytes } from 'node:crypto';
import { connectAs, readRoles } from '../db/helpers.ts';
import { runCli } from '../tamper/support.ts';
import { createCitusDatabase } from './cluster.ts';
import { orgsOnDifferentWorkers, shardOf, workerUrlOf } from './shards.ts';

const db = await createCitusDatabase({ shardCount: 8 });
const roles = await readRoles(db.pool);
const roleOf = async (kind: string) => (await db.pool.query<{ role_name: string }>('select role_name from audit_chain_roles where kind = $1', [kind])).rows[0]!.role_name;
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-citus-retention-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pair = generateSigningKeyPair('citus-retention-1', new Date('2020-01-01T00:00:00Z'));
const signer = loadSigningKey({ pem: pair.privatePem, keyId: pair.keyId })!;
const keyring = [pair.keyringEntry];
const sink = new DirectoryCheckpointSink(dir);
const keyDir = mkdtempSync(join(tmpdir(), 'audit-chain-citus-keyring-'));
afterAll(() => rmSync(keyDir, { recursive: true, force: true }));
const keyringFile = join(keyDir, 'keyring.json');
writeFileSync(keyringFile, JSON.stringify(keyring));
const DAY = 86_400_000;
// Ages are relative to the database's now(); the limit to the test's clock, read once.
const olderThan = new Date(Date.now() - 400 * DAY);

const [orgA, orgB] = await orgsOnDifferentWorkers(db.pool);
const [orgC] = await orgsOnDifferentWorkers(db.pool);

/** Inserts rows recorded `daysAgo[i]` days ago, in that order, through the coordinator. */
async function insertAged(orgId: string, daysAgo: number[]): Promise<void> {
  await db.pool.query(
    `insert into audit_logs (org_id, actor_type, actor_id, actor_email, action, details, ip_address, user_agent, occurred_at, recorded_at)
     select $1, 'user', 'u-1', 'u1@example.com', 'doc.read', jsonb_build_object('days', d), '192.0.2.7', 'agent',
            now() - make_interval(days => d), now() - make_interval(days => d)
       from unnest($2::int[]) with ordinality as t(d, n) order by n`,
    [orgId, daysAgo],
  );
}

const range = (n: number, from: number, step = -1) => Array.from({ length: n }, (_, i) => from + i * step);

async function seal(): Promise<void> {
  const result = await sealOnce(db.pool, { batchSize: 1000, waitMs: 10_000, pollMs: 20 });
  expect(result.broken).toEqual([]);
}

async function count(orgId: string): Promise<number> {
  return (await db.pool.query<{ n: number }>('select count(*)::int as n from audit_logs where org_id = $1', [orgId])).rows[0]!.n;
}

async function counts(): Promise<number[]> {
  return [await count(orgA), await count(orgB), await count(orgC)];
}

async function verifyAll() {
  return verifyChains(db.pool, { keyring, checkpointSources: { directories: [{ path: dir, required: true }], table: true } });
}

beforeAll(async () => {
  expect((await shardOf(db.pool, orgA)).nodeport).not.toBe((await shardOf(db.pool, orgB)).nodeport);
  await insertAged(orgA, [...range(30, 900, -10), ...range(10, 100, -5)]); // 30 old rows, then 10 young ones
  await insertAged(orgB, range(25, 800, -10)); // all old: only the head stays
  await insertAged(orgC, [...range(6, 700, -20), ...range(3, 50, -5)]);
  await seal();
  await runCheckpointRound(db.pool, { signer, sinks: [sink], policy: 'requested', waitForLock: true });
  expect((await verifyAll()).ok).toBe(true);
});

describe('retention on Citus', () => {
  test('a checkpoint that cannot be exported stops its chain: nothing deleted on any worker', async () => {
    const failing: RetentionSink = {
      name: 'webhook',
      target: 'http://127.0.0.1:9/unreachable',
      write: () => Promise.reject(new Error('connection refused')),
    };
    const result = await retainChains(db.pool, { olderThan, batchRows: 10, signer, keyring, sinks: [sink, failing] });
    expect(result.deleted).toBe(0);
    expect(result.failed).toBe(3);
    for (const chain of result.chains) expect(chain.error).toMatch(/could not be exported to the webhook sink .*nothing deleted/);
    expect(await counts()).toEqual([40, 25, 9]);
    expect((await db.pool.query('select count(*)::int as n from audit_chain_retention_cuts')).rows[0].n).toBe(0);
  });

  test('a checkpoint not yet exported cannot be cut at, even by the retention role calling the function directly (AC010)', async () => {
    const pending = await db.pool.query<{ id: string }>(
      "select id::text from audit_chain_checkpoints where exported_to @? '$.* ? (@ == null)' and org_id = $1 order by id desc limit 1",
      [orgA],
    );
    expect(pending.rows).toHaveLength(1);
    const retention = await connectAs(db.url, await roleOf('retention'));
    try {
      await expect(
        retention.query('select audit_chain_retain_prefix($1::bigint, $2::timestamptz)', [pending.rows[0]!.id, olderThan.toISOString()]),
      ).rejects.toThrow(/has not reached every sink/);
    } finally {
      await retention.end();
    }
    expect(await counts()).toEqual([40, 25, 9]);
  });

  test('a keyring that does not trust the signing key: nothing deleted', async () => {
    const other = generateSigningKeyPair('someone-else', new Date('2020-01-01T00:00:00Z'));
    const result = await retainChains(db.pool, { olderThan, batchRows: 10, signer, keyring: [other.keyringEntry], sinks: [sink] });
    expect(result.deleted).toBe(0);
    expect(result.failed).toBe(3);
    for (const chain of result.chains) expect(chain.error).toMatch(/not one the keyring trusts.*nothing deleted/);
    expect(await counts()).toEqual([40, 25, 9]);
  });

  test('retain deletes each chain\'s old prefix on both workers, in cuts, after a checkpoint exported at each cut; the head and young rows stay', async () => {
    const cuts: { orgId: string | null; rows: number }[] = [];
    const result = await retainChains(db.pool, { olderThan, batchRows: 10, signer, keyring, sinks: [sink], onCut: (cut) => cuts.push({ orgId: cut.orgId, rows: cut.rows }) });
    expect(result.chains.filter((chain) => chain.error)).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.deleted).toBe(30 + 24 + 6);
    expect(await counts()).toEqual([10, 1, 3]);
    expect(cuts.filter((cut) => cut.orgId === orgA).map((cut) => cut.rows)).toEqual([10, 10, 10]);
    expect(cuts.filter((cut) => cut.orgId === orgB).map((cut) => cut.rows)).toEqual([10, 10, 4]);
    expect(cuts.filter((cut) => cut.orgId === orgC).map((cut) => cut.rows)).toEqual([6]);
    // Each cut's checkpoint is in the directory sink and marked exported before its rows went.
    const exported = await db.pool.query<{ n: number }>(
      `select count(*)::int as n from audit_chain_retention_cuts c join audit_chain_checkpoints k on k.id = c.checkpoint_id
        where k.exported_to ? 'directory' and k.exported_to ->> 'directory' is not null`,
    );
    expect(exported.rows[0]!.n).toBe(7);
    expect(readdirSync(dir).length).toBeGreaterThan(0);
    // The rows are gone from the workers' shards themselves.
    for (const org of [orgA, orgB]) {
      const shard = await shardOf(db.pool, org);
      const worker = await connect(workerUrlOf(db, shard.nodeport), 'retention-check');
      try {
        const left = await worker.query<{ n: number }>(`select count(*)::int as n from ${shard.shardName} where org_id = $1`, [org]);
        expect(left.rows[0]!.n).toBe(org === orgA ? 10 : 1);
      } finally {
        await worker.end();
      }
    }
    // A second run finds nothing more to cut.
    const again = await retainChains(db.pool, { olderThan, batchRows: 10, signer, keyring, sinks: [sink] });
    expect([again.deleted, again.failed]).toEqual([0, 0]);
  });

  test('verification starts each chain at its latest cut and is clean; new rows seal on top of the remaining ones', async () => {
    const report = await verifyAll();
    expect(report.breaks).toEqual([]);
    expect(report.ok).toBe(true);
    await insertAged(orgB, [1, 0]);
    await seal();
    const after = await verifyAll();
    expect(after.breaks).toEqual([]);
    expect(after.ok).toBe(true);
  });

  test('the cut does not open the shards to other deletes: a plain DELETE, one above the cut, one of another chain naming this cut, are refused (AC002)', async () => {
    const cut = (await db.pool.query<{ id: string; cut_seq: string }>('select id::text, cut_seq::text from audit_chain_retention_cuts where org_id = $1 order by cut_seq desc limit 1', [orgA])).rows[0]!;
    await expect(db.pool.query('delete from audit_logs where org_id = $1', [orgA])).rejects.toThrow(/append-only/);
    const client = await connect(db.url, 'would-delete');
    try {
      for (const [org, where] of [
        [orgA, 'chain_seq > $2::bigint'],
        [orgB, 'chain_seq > 0 or $2::bigint is null'],
      ] as const) {
        await client.query('begin');
        await client.query("set local citus.propagate_set_commands = 'local'");
        await client.query(`set local audit_chain.retention_cuts = '{${cut.id}}'`);
        await expect(client.query(`delete from audit_logs where org_id = $1 and (${where})`, [org, cut.cut_seq])).rejects.toThrow(/not covered by a retention cut of this transaction/);
        await client.query('rollback');
      }
    } finally {
      await client.end();
    }
    expect(await counts()).toEqual([10, 3, 3]);
  });

  test('a row put back below a cut on its worker, triggers bypassed, is reported by verify (row_below_cut)', async () => {
    const shard = await shardOf(db.pool, orgA);
    const cut = (await db.pool.query<{ cut_seq: string }>('select cut_seq::text from audit_chain_retention_cuts where org_id = $1 order by cut_seq limit 1', [orgA])).rows[0]!;
    const worker = await connect(workerUrlOf(db, shard.nodeport), 'attacker');
    try {
      await worker.query('begin');
      await worker.query('set local session_replication_role = replica');
      await worker.query('set local citus.enable_manual_changes_to_shards = on');
      await worker.query(
        `insert into ${shard.shardName} (org_id, chain_seq, actor_type, action, recorded_at) overriding system value values ($1, $2, 'user', 'put.back', now() - interval '900 days')`,
        [orgA, cut.cut_seq],
      );
      await worker.query('commit');
    } finally {
      await worker.end();
    }
    const report = await verifyAll();
    expect(report.ok).toBe(false);
    expect(report.breaks).toContainEqual(expect.objectContaining({ kind: 'row_below_cut', orgId: orgA, chainSeq: cut.cut_seq }));
    expect(report.breaks.filter((found) => found.orgId !== orgA)).toEqual([]);
  });

  test('a cut no trusted checkpoint confirms (written into the reference table by someone who can write the database) is reported', async () => {
    // A real row below the head, with its true checksum and position, but no checkpoint was ever signed there.
    const state = (await db.pool.query<{ sealed_count: string }>('select sealed_count::text from audit_chain_state where org_id = $1', [orgC])).rows[0]!;
    const head = (await db.pool.query<{ chain_seq: string; checksum: string }>('select chain_seq::text, checksum from audit_logs where org_id = $1 order by chain_seq desc offset 1 limit 1', [orgC])).rows[0]!;
    await db.pool.query(
      `insert into audit_chain_retention_cuts (org_id, cut_seq, checkpoint_id, checksum, sealed_count, older_than)
       values ($1, $2, 0, $3, $4, now())`,
      [orgC, head.chain_seq, head.checksum, (BigInt(state.sealed_count) - 1n).toString()],
    );
    const report = await verifyAll();
    expect(report.ok).toBe(false);
    expect(report.breaks).toContainEqual(expect.objectContaining({ kind: 'checkpoint_mismatch', orgId: orgC, chainSeq: head.chain_seq }));
  });

  test('bad input to `audit-chain retain` on Citus: one line, exit 1, nothing deleted', async () => {
    const before = await counts();
    const env = { DATABASE_URL: db.url, AUDIT_CHAIN_DATA_DIR: dir };
    const badDuration = await runCli(['retain', '--older-than', '400 days'], env);
    expect(badDuration.code).toBe(1);
    expect(badDuration.stderr).toMatch(/^audit-chain: --older-than: got "400 days", want a number and a unit/);
    const noKey = await runCli(['retain', '--older-than', '1d'], env);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr.trim().split('\n')).toHaveLength(1);
    expect(noKey.stderr).toMatch(/^audit-chain: retention needs the checkpoint signing key/);
    const attached = await runCli(['retain', '--older-than', '1d', '--table', 'public.events'], env);
    expect(attached.code).toBe(1);
    expect(attached.stderr).toMatch(/^audit-chain: retention of an attached table \(retain --table\) is not supported on Citus/);
    expect(await counts()).toEqual(before);
  });
});

describe('`audit-chain retain` on Citus', () => {
  test('--dry-run reports, then a run deletes after signing and exporting, exit 0; `verify` then exits 0 for the chain', async () => {
    const [orgF] = await orgsOnDifferentWorkers(db.pool);
    await insertAged(orgF, [...range(7, 900, -10), 1]);
    await seal();
    const env = {
      DATABASE_URL: db.url,
      AUDIT_CHAIN_DATA_DIR: dir,
      AUDIT_CHAIN_SIGNING_KEY: pair.privatePem.replaceAll('\n', '\\n'),
      AUDIT_CHAIN_SIGNING_KEY_ID: pair.keyId,
      AUDIT_CHAIN_CHECKPOINT_DIR: dir,
      AUDIT_CHAIN_KEYRING_FILE: keyringFile,
    };
    const dry = await runCli(['retain', '--older-than', '400d', '--org', orgF, '--dry-run'], env);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`would delete 7 rows of chain ${orgF} up to chain_seq \\d+`));
    expect(await count(orgF)).toBe(8);
    const run = await runCli(['retain', '--older-than', '400d', '--org', orgF], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`deleted 7 rows of chain ${orgF} up to chain_seq \\d+ \\(checkpoint sealed_count 7, key ${pair.keyId}\\)`));
    expect(await count(orgF)).toBe(1);
    const verify = await runCli(['verify', '--org', orgF, '--no-record', '--checkpoints', dir], env);
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
  });
});

describe('least privilege on Citus', () => {
  test('a login that is only a member of the signer and retention roles cuts chains on both workers; verify is clean', async () => {
    const [orgD, orgE] = await orgsOnDifferentWorkers(db.pool);
    await insertAged(orgD, [...range(8, 900, -10), 1]);
    await insertAged(orgE, [...range(5, 900, -10), 1]);
    await seal();
    const login = `audit_chain_ops_${randomBytes(4).toString('hex')}`;
    // CREATE ROLE and GRANT go to the workers too (Citus propagates roles).
    await db.pool.query(`create role ${login} login`);
    await db.pool.query(`grant ${await roleOf('signer')}, ${await roleOf('retention')} to ${login}`);
    const url = new URL(db.url);
    url.username = login;
    const pool = createPool(url.toString(), { applicationName: 'citus retention login', max: 2 });
    try {
      for (const org of [orgD, orgE]) {
        const result = await retainChains(pool, { olderThan, orgId: org, signer, keyring, sinks: [sink] });
        expect(result.chains.map((chain) => chain.error)).toEqual([null]);
        expect(result.deleted).toBe(org === orgD ? 8 : 5);
      }
      // Alone it can delete nothing: AC002 on the shard (no cut named), or no privilege at all.
      await expect(pool.query('delete from audit_logs where org_id = $1', [orgD])).rejects.toThrow(/permission denied|append-only/);
    } finally {
      await pool.end();
      await db.pool.query(`revoke ${await roleOf('signer')}, ${await roleOf('retention')} from ${login}`);
      await db.pool.query(`drop role ${login}`);
    }
    expect([await count(orgD), await count(orgE)]).toEqual([1, 1]);
    for (const org of [orgD, orgE]) {
      const report = await verifyChains(db.pool, { orgId: org, keyring, checkpointSources: { directories: [{ path: dir, required: true }], table: true } });
      expect(report.breaks).toEqual([]);
      expect(report.ok).toBe(true);
    }
  });
});
