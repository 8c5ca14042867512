// The tamper tests' world: a fresh database per scenario with several
// organizations and the system chain written concurrently, sealed, and signed
// at two checkpoints; an attacker with superuser rights; and the command line
// run as a child process, as an operator would.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { AUDIT_LOGS_V2, ed25519Signer, type CheckpointSigner } from '@audit-chain/chain';
import { createPool, withChainSearchPath, withDatabaseName } from '@audit-chain/db';
import { CANONICAL_COLUMNS, sealOnce, v2ValuesOf, type CanonicalRow } from '@audit-chain/sealing';
import { DirectoryCheckpointSink, runCheckpointRound, type CheckpointSink } from '@audit-chain/verification';
import { insertRows, newOrgId } from '../support/audit-rows.ts';
import { withAdmin } from '../support/database.ts';
import '../support/provided-context.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../apps/cli/bin/audit-chain.ts', import.meta.url));

/** Seeded, so a failing position can be replayed with TAMPER_SEED. */
export { seededRandom } from '../support/seeded-random.ts';

export const SEED = Number(process.env.TAMPER_SEED ?? Math.floor(Math.random() * 2 ** 31));

export function pick<T>(random: () => number, items: readonly T[]): T {
  if (items.length === 0) throw new Error(`pick: got no items, want at least one (seed ${SEED})`);
  return items[Math.floor(random() * items.length)]!;
}

export interface TestKey {
  keyId: string;
  signer: CheckpointSigner;
  publicPem: string;
}

export function newKey(keyId: string): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { keyId, signer: ed25519Signer(keyId, privateKey), publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

export interface ScratchDatabase {
  url: string;
  pool: pg.Pool;
}

const created: { name: string; pool: pg.Pool; dir: string }[] = [];
afterAll(async () => {
  const serverUrl = inject('serverUrl');
  for (const { name, pool, dir } of created.splice(0)) {
    await pool.end();
    await withAdmin(serverUrl, (admin) => admin.query(`drop database if exists ${name} with (force)`));
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A database cloned from the migrated template, and a scratch directory; both dropped after the file. */
export async function scratch(): Promise<ScratchDatabase & { dir: string }> {
  const serverUrl = inject('serverUrl');
  const name = `audit_chain_test_tamper_${randomBytes(5).toString('hex')}`;
  await withAdmin(serverUrl, (admin) => admin.query(`create database ${name} template ${inject('templateDatabase')}`));
  const url = withDatabaseName(serverUrl, name);
  // Every test of a file builds its own database and keeps its pool until the
  // file ends: idle connections must close quickly, or a file's pools together
  // outgrow the server's max_connections (100 by default).
  const pool = createPool(url, { applicationName: 'audit-chain tamper test', max: 12, idleTimeoutMs: 100 });
  const dir = mkdtempSync(join(tmpdir(), 'audit-chain-tamper-'));
  created.push({ name, pool, dir });
  return { url, pool, dir };
}

/**
 * Writers on separate connections, each inserting small batches into the chains
 * in turn, all at once; every fifth batch is rolled back, leaving gaps in chain_seq.
 */
export async function writeConcurrently(pool: pg.Pool, chains: readonly (string | null)[], rowsPerChain: number, writers = 8): Promise<void> {
  const remaining = new Map(chains.map((chain) => [chain, rowsPerChain]));
  let turn = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (true) {
        const open = [...remaining].filter(([, left]) => left > 0);
        if (open.length === 0) return;
        const [chain, left] = open[turn++ % open.length]!;
        const count = Math.min(left, 1 + (turn % 4));
        if (turn % 5 === 0) {
          const client = await pool.connect();
          try {
            await client.query('begin');
            await insertRows(client, chain, count, 'tamper.rolled-back');
            await client.query('rollback');
          } finally {
            client.release();
          }
          continue;
        }
        remaining.set(chain, left - count);
        await insertRows(pool, chain, count, 'tamper.test');
      }
    }),
  );
}

export async function sealAll(pool: pg.Pool, batchSize = 500): Promise<void> {
  const result = await sealOnce(pool, { batchSize, waitMs: 10_000, pollMs: 20 });
  if (result.broken.length > 0) throw new Error(`sealing: got broken chains ${result.broken.map((error) => error.message).join('; ')}, want none`);
}

/** Signs every chain's head now (or at `at`), records it and writes it to `dir`. */
export async function signHeads(pool: pg.Pool, key: TestKey, dir: string, at?: Date, sinks?: CheckpointSink[]): Promise<void> {
  const result = await runCheckpointRound(pool, {
    signer: key.signer,
    sinks: sinks ?? [new DirectoryCheckpointSink(dir)],
    policy: 'requested',
    waitForLock: true,
    ...(at ? { now: () => at } : {}),
  });
  if (result.failures.length > 0 || result.skipped.length > 0) {
    throw new Error(`signing: got failures ${JSON.stringify(result.failures.map((f) => f.message))} and skipped ${JSON.stringify(result.skipped)}, want none`);
  }
}

export interface World extends ScratchDatabase {
  dir: string;
  checkpointDir: string;
  keyringFile: string;
  key: TestKey;
  orgs: string[];
  /** Every chain: the organizations and null (the system chain). */
  chains: (string | null)[];
}

/**
 * Three organizations and the system chain, written concurrently in three
 * rounds: sealed and checkpointed after the first two, sealed after the third,
 * and a few rows left pending. So every chain has checkpoints in its middle and
 * at its head, sealed rows after the last checkpoint, and pending rows.
 */
export async function buildWorld(options: { rows?: number } = {}): Promise<World> {
  const db = await scratch();
  const key = newKey('tamper-test-key');
  const checkpointDir = join(db.dir, 'checkpoints');
  const keyringFile = writeKeyring(db.dir, 'keyring.json', [{ keyId: key.keyId, publicKey: key.publicPem, validFrom: '2000-01-01T00:00:00Z' }]);
  const orgs = [newOrgId(), newOrgId(), newOrgId()];
  const chains = [...orgs, null];
  const rows = options.rows ?? 30;
  for (const round of [1, 2, 3]) {
    await writeConcurrently(db.pool, chains, rows);
    await sealAll(db.pool);
    if (round < 3) await signHeads(db.pool, key, checkpointDir);
  }
  await writeConcurrently(db.pool, chains, 3, 4);
  return { ...db, checkpointDir, keyringFile, key, orgs, chains };
}

export function writeKeyring(dir: string, name: string, entries: unknown[]): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(entries, null, 2));
  return file;
}

export interface ChainRow {
  id: string;
  seq: bigint;
  prev: string | null;
  checksum: string | null;
  sealed: boolean;
}

/** A chain's rows in order, with whether each is at or below the chain's watermark. */
export async function chainRows(db: pg.Pool | pg.Client, orgId: string | null): Promise<ChainRow[]> {
  const result = await db.query<{ id: string; chain_seq: string; prev_checksum: string | null; checksum: string | null; sealed: boolean }>(
    `select a.id::text, a.chain_seq::text, a.prev_checksum, a.checksum,
            a.chain_seq <= coalesce((select s.watermark_seq from audit_chain_state s where s.org_id is not distinct from a.org_id), 0) as sealed
       from audit_logs a where a.org_id is not distinct from $1::uuid order by a.chain_seq`,
    [orgId],
  );
  return result.rows.map((row) => ({ id: row.id, seq: BigInt(row.chain_seq), prev: row.prev_checksum, checksum: row.checksum, sealed: row.sealed }));
}

export async function checkpointSeqs(db: pg.Pool, orgId: string | null): Promise<bigint[]> {
  const result = await db.query<{ chain_seq: string }>(
    'select c.chain_seq::text from audit_chain_checkpoints c where c.org_id is not distinct from $1::uuid order by c.chain_seq',
    [orgId],
  );
  return result.rows.map((row) => BigInt(row.chain_seq));
}

/** Runs `work` as the superuser with every user trigger off (the append-only rules included): the attacker. */
export async function asAttacker<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: withChainSearchPath(url), application_name: 'audit-chain tamper attacker' });
  await client.connect();
  try {
    await client.query('begin');
    await client.query('set local session_replication_role = replica');
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}

export interface Links {
  prev: string;
  checksum: string;
  digest: string;
  salt: string;
}

/** What an attacker with the published format computes for a row over `prev`: its pii_digest and checksum. */
export async function computeLinks(client: pg.Client, rowId: string, prev: string): Promise<Links> {
  const row = (
    await client.query<CanonicalRow & { pii_salt: string | null }>(`select ${CANONICAL_COLUMNS}, a.pii_salt from audit_logs a where a.id = $1::uuid`, [rowId])
  ).rows[0]!;
  const salt = row.pii_salt ?? randomBytes(16).toString('hex');
  const values = v2ValuesOf(row);
  const digest = AUDIT_LOGS_V2.personalDigest(values, salt);
  return { prev, checksum: AUDIT_LOGS_V2.checksum({ chainKey: row.org_id, chainSeq: row.chain_seq, values }, { prevChecksum: prev, piiDigest: digest }), digest, salt };
}

export async function writeLinks(client: pg.Client, rowId: string, links: Links): Promise<void> {
  await client.query(
    `update audit_logs set prev_checksum = $2, checksum = $3, checksum_version = 2, pii_digest = $4, pii_salt = $5 where id = $1::uuid`,
    [rowId, links.prev, links.checksum, links.digest, links.salt],
  );
}

/** computeLinks then writeLinks; returns the new checksum. */
export async function recomputeLinks(client: pg.Client, rowId: string, prev: string): Promise<string> {
  const links = await computeLinks(client, rowId, prev);
  await writeLinks(client, rowId, links);
  return links.checksum;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string>, nodeArgs: string[] = []): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface JsonBreak {
  kind: string;
  org_id: string | null;
  chain_seq: string | null;
  row_id: string | null;
  expected: string | null;
  found: string | null;
  message: string;
  source?: string;
}

export interface JsonReport {
  ok: boolean;
  break_count: number;
  breaks: JsonBreak[];
  breaks_by_kind: Record<string, number>;
  totals: { chains: number; rows: number; sealed: number; pending: number };
  verification_id: string | null;
  warnings: string[];
}

/** `audit-chain verify --json` against the world's keyring and checkpoint directory; fails unless the exit status fits the report. */
export async function verifyJson(world: World, extra: string[] = [], env: Record<string, string> = {}): Promise<JsonReport & { code: number | null; stderr: string }> {
  const run = await runCli(['verify', '--json', '--no-record', '--keyring', world.keyringFile, '--checkpoints', world.checkpointDir, ...extra], {
    DATABASE_URL: world.url,
    AUDIT_CHAIN_DATA_DIR: world.dir,
    ...env,
  });
  let report: JsonReport;
  try {
    report = JSON.parse(run.stdout) as JsonReport;
  } catch {
    throw new Error(`verify --json: got exit ${run.code}, stdout ${JSON.stringify(run.stdout.slice(0, 500))}, stderr ${JSON.stringify(run.stderr)}; want a JSON report (seed ${SEED})`);
  }
  const want = report.ok ? 0 : 1;
  if (run.code !== want) throw new Error(`verify: got exit ${run.code} with ok=${report.ok}, want ${want}; stderr ${run.stderr} (seed ${SEED})`);
  return { ...report, code: run.code, stderr: run.stderr };
}

export interface SqlBreak {
  kind: string;
  chain_seq: string | null;
  row_id: string | null;
  expected: string | null;
  found: string | null;
  detail: string;
}

export async function sqlVerify(pool: pg.Pool, orgId: string | null): Promise<SqlBreak[]> {
  const result = await pool.query<SqlBreak>('select kind, chain_seq::text, row_id::text, expected, found, detail from audit_log_verify_chain($1::uuid)', [orgId]);
  return result.rows;
}

/** A readable dump of breaks for assertion messages. */
export function show(breaks: readonly { kind: string; chain_seq: string | null; row_id?: string | null }[]): string {
  return `${JSON.stringify(breaks.map((b) => `${b.kind}@${b.chain_seq}${b.row_id ? `/${b.row_id.slice(0, 8)}` : ''}`))} (seed ${SEED})`;
}
