// A Citus cluster set up by the last release (migrations up to
// 0060_function_search_path_repeat, audit_logs distributed, the retention cuts
// still a coordinator-local table) is upgraded as the README says: `migrate`,
// then `citus distribute` again. Before, erasure is refused on the shards;
// migrated but not distributed again, `retain` refuses in one line saying what
// to do, before it signs anything; after, the cuts are a reference table, and
// retention and erasure work on both workers with verify clean.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { CITUS_OPEN_WRITERS_SQL, distributeAuditLogs, WORKER_SEQUENCE_START } from '@audit-chain/citus';
import { MIGRATIONS_FOLDER, migrate } from '@audit-chain/db';
import { redactRow, retainChains } from '@audit-chain/lifecycle';
import { sealOnce } from '@audit-chain/sealing';
import { DirectoryCheckpointSink, generateSigningKeyPair, loadSigningKey, verifyChains } from '@audit-chain/verification';
import { withAdmin } from '../support/database.ts';
import { runCli } from '../tamper/support.ts';
import { createCitusDatabase } from './cluster.ts';
import { orgsOnDifferentWorkers } from './shards.ts';

const LAST_RELEASED = '0060_function_search_path_repeat';
const journal = JSON.parse(readFileSync(`${MIGRATIONS_FOLDER}/meta/_journal.json`, 'utf8')) as { entries: { tag: string }[] };
const released = journal.entries.slice(0, journal.entries.findIndex((entry) => entry.tag === LAST_RELEASED) + 1);
const earlier = mkdtempSync(join(tmpdir(), 'audit-chain-citus-release-'));
mkdirSync(join(earlier, 'meta'));
writeFileSync(join(earlier, 'meta', '_journal.json'), JSON.stringify({ ...journal, entries: released }));
for (const entry of released) copyFileSync(`${MIGRATIONS_FOLDER}/${entry.tag}.sql`, join(earlier, `${entry.tag}.sql`));
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-citus-upgrade-'));
afterAll(() => {
  rmSync(earlier, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

const db = await createCitusDatabase({ distribute: false, migrationsFolder: earlier });

/** What the last release's `audit-chain citus distribute` did (packages/citus/src/distribute.ts then): the cuts stay on the coordinator. */
async function distributeAsLastRelease(): Promise<void> {
  await withAdmin(db.url, async (client) => {
    await client.query('begin');
    await client.query('set local citus.enable_unsafe_triggers = on');
    await client.query('alter table audit_logs drop constraint audit_logs_pkey');
    await client.query('alter table audit_logs add constraint audit_logs_pkey primary key (org_id, id)');
    await client.query(`alter table audit_logs add constraint audit_logs_chain_seq_from_coordinator check (chain_seq < ${WORKER_SEQUENCE_START})`);
    await client.query("select create_distributed_table('audit_logs', 'org_id', shard_count => 8)");
    await client.query("select create_reference_table('audit_chain_redactions')");
    await client.query('commit');
    for (const statement of CITUS_OPEN_WRITERS_SQL) await client.query(statement);
  });
}
const pair = generateSigningKeyPair('citus-upgrade-1', new Date('2020-01-01T00:00:00Z'));
const signer = loadSigningKey({ pem: pair.privatePem, keyId: pair.keyId })!;
const keyring = [pair.keyringEntry];
const sink = new DirectoryCheckpointSink(dir);

async function isReference(table: string): Promise<boolean> {
  const result = await db.pool.query<{ present: boolean }>(
    "select exists (select 1 from pg_dist_partition where logicalrelid = $1::regclass and partmethod = 'n') as present",
    [table],
  );
  return result.rows[0]!.present;
}

test('migrate, then citus distribute again: retention and erasure work on a cluster distributed by the last release', async () => {
  expect(released.at(-1)!.tag).toBe(LAST_RELEASED);
  expect(released.length).toBeLessThan(journal.entries.length);
  await distributeAsLastRelease();
  expect(await isReference('audit_chain_retention_cuts')).toBe(false);
  const [orgA, orgB] = await orgsOnDifferentWorkers(db.pool);
  for (const org of [orgA, orgB]) {
    await db.pool.query(
      `insert into audit_logs (org_id, actor_type, actor_id, actor_email, action, ip_address, user_agent, recorded_at)
       select $1, 'user', 'u-' || g, 'u' || g || '@example.com', 'doc.read', '192.0.2.1', 'agent', now() - make_interval(days => 1000 - g)
         from generate_series(1, 12) g`,
      [org],
    );
  }
  expect((await sealOnce(db.pool, { batchSize: 500, waitMs: 10_000, pollMs: 20 })).broken).toEqual([]);
  const rowOf = async (org: string) => (await db.pool.query<{ id: string }>('select id::text from audit_logs where org_id = $1 order by chain_seq desc limit 1', [org])).rows[0]!.id;
  const before = await db.pool.query('select * from audit_logs order by chain_seq');
  await expect(redactRow(db.pool, { rowId: await rowOf(orgA), fields: ['actor_email', 'ip_address', 'user_agent'] })).rejects.toThrow();
  expect((await db.pool.query('select * from audit_logs order by chain_seq')).rows).toEqual(before.rows);

  const upgrade = await migrate(db.url);
  expect(upgrade.applied).toEqual(journal.entries.slice(released.length).map((entry) => entry.tag));
  // Migrated but not distributed again: `retain` says what to do, in one line, before signing anything.
  const checkpoints = await db.pool.query('select count(*)::int as n from audit_chain_checkpoints');
  const refused = await runCli(['retain', '--older-than', '500d'], { DATABASE_URL: db.url, AUDIT_CHAIN_DATA_DIR: dir });
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/^audit-chain: retention on Citus needs audit_chain_retention_cuts as a reference table.*run `audit-chain citus distribute` again.*nothing deleted\n$/);
  expect((await db.pool.query('select count(*)::int as n from audit_chain_checkpoints')).rows).toEqual(checkpoints.rows);
  expect((await db.pool.query('select * from audit_logs order by chain_seq')).rows).toEqual(before.rows);
  const again = await withAdmin(db.url, (client) => distributeAuditLogs(client));
  expect(again.distributed).toBe(false);
  expect(await isReference('audit_chain_retention_cuts')).toBe(true);

  const result = await retainChains(db.pool, { olderThan: new Date(Date.now() - 500 * 86_400_000), signer, keyring, sinks: [sink] });
  expect(result.chains.map((chain) => chain.error)).toEqual([null, null]);
  expect(result.deleted).toBe(22);
  for (const org of [orgA, orgB]) {
    const redacted = await redactRow(db.pool, { rowId: await rowOf(org), fields: ['actor_email', 'ip_address', 'user_agent'] });
    expect(redacted.orgId).toBe(org);
  }
  expect((await sealOnce(db.pool, { batchSize: 500, waitMs: 10_000, pollMs: 20 })).broken).toEqual([]);
  const report = await verifyChains(db.pool, { keyring, checkpointSources: { directories: [{ path: dir, required: true }], table: true } });
  expect(report.breaks).toEqual([]);
  expect(report.ok).toBe(true);
  expect(report.totals.redacted).toBe(2);
});
