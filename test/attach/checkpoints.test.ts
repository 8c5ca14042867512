// Signed checkpoints of an attached table's chains, tried as the attacker
// would: the fixture product (product-tenant.ts: its own public.audit_logs,
// forced row-level security, two tenants, so two chains) is attached, sealed
// and checkpointed by the signer role; then, as a database superuser, a chain
// is rewritten and recomputed end to end with our own sealer, a chain's tail is
// deleted with its state set to match, and checkpoint rows are forged. Links,
// content and state alone see none of it; verify with the keyring fails on
// each, naming the table and the chain. Signing times are fixed instants.
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { withDatabaseName } from '@audit-chain/db';
import { attachTable } from '@audit-chain/lifecycle';
import { sealAttachedTables } from '@audit-chain/sealing';
import {
  DirectoryCheckpointSink,
  generateSigningKeyPair,
  loadSigningKey,
  runCheckpointRound,
  verifyAttachedTables,
  writeSigningKeyPair,
  type AttachedVerifyReport,
} from '@audit-chain/verification';
import { pino } from 'pino';
import { loadConfig } from '@audit-chain/config';
import { main } from '../../apps/cli/src/main.ts';
import { startCheckpointLoop } from '../../apps/worker/src/checkpoint-loop.ts';
import { waitFor } from '../support/audit-rows.ts';
import { connectAs, expectSqlState } from '../db/helpers.ts';
import { createTestDatabase } from '../support/database.ts';
import { actAsTenant, newTenant, productDdl, productInsert } from './product-tenant.ts';

const db = await createTestDatabase();
const productUrl = withDatabaseName(inject('serverUrl'), db.name);
const APP = `p1_app_${Math.random().toString(16).slice(2, 10)}`;
const TENANTS = [newTenant(), newTenant()] as const;
const exportDir = mkdtempSync(join(tmpdir(), 'audit-chain-attached-checkpoints-'));
const keyDir = mkdtempSync(join(tmpdir(), 'audit-chain-attached-keys-'));
const pair = generateSigningKeyPair('attached-1', new Date('2019-01-01T00:00:00Z'));
const signer = loadSigningKey({ pem: pair.privatePem, keyId: pair.keyId })!;
const keyring = [pair.keyringEntry];
const keyFiles = writeSigningKeyPair(keyDir, pair);
const sink = new DirectoryCheckpointSink(exportDir);
const SIGNED_AT = new Date('2020-06-01T00:00:00Z');
const label = (tenant: string) => `public.audit_logs chain ${tenant}`;

const roles = Object.fromEntries(
  (await db.pool.query<{ kind: string; role_name: string }>('select kind, role_name from audit_chain_roles')).rows.map((row) => [row.kind, row.role_name]),
) as Record<'writer' | 'sealer' | 'signer', string>;
/** A pool whose every connection acts as the signer role, as the worker's checkpoint stage logs in. */
const signerPool = new pg.Pool({ connectionString: db.url, max: 2 });
signerPool.on('connect', (client) => {
  client.query(`set role "${roles.signer}"`).catch(() => {});
});
const clients: pg.Client[] = [];

async function productWrite(tenant: string, rows: number, from: number): Promise<void> {
  const client = new pg.Client({ connectionString: productUrl });
  await client.connect();
  try {
    await actAsTenant(client, APP, tenant);
    for (let n = from; n < from + rows; n += 1) await productInsert(client, tenant, n);
  } finally {
    await client.end();
  }
}

async function seal(): Promise<void> {
  const results = await sealAttachedTables(db.pool, { batchSize: 100, waitMs: 5000 });
  expect(results.map((result) => [result.table, result.status])).toEqual([['public.audit_logs', 'sealed']]);
}

function withCheckpoints(): Promise<AttachedVerifyReport> {
  return verifyAttachedTables(db.pool, { keyring, checkpointSources: { directories: [{ path: exportDir, required: true }], table: true } });
}

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'audit-chain', ...args], {
    env: {
      DATABASE_URL: db.url,
      AUDIT_CHAIN_SIGNING_KEY_FILE: keyFiles.privateKeyFile,
      AUDIT_CHAIN_SIGNING_KEY_ID: pair.keyId,
      AUDIT_CHAIN_CHECKPOINT_DIR: exportDir,
      AUDIT_CHAIN_KEYRING_FILE: keyFiles.keyringFile,
    },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

async function chainRows(tenant: string): Promise<{ seq: string; checksum: string }[]> {
  return (
    await db.pool.query<{ seq: string; checksum: string }>(
      'select audit_chain_seq::text as seq, audit_chain_checksum as checksum from public.audit_logs where org_id = $1 order by audit_chain_seq',
      [tenant],
    )
  ).rows;
}

beforeAll(async () => {
  await db.pool.query(`create role "${APP}" nologin`);
  await db.pool.query(productDdl(APP));
  await productWrite(TENANTS[0], 8, 0);
  await productWrite(TENANTS[1], 8, 100);
  await attachTable(db.pool, { table: 'public.audit_logs', orgColumn: 'org_id', orderBy: ['created_at'] });
  // Rows written after the attach (numbered from the identity sequence).
  await productWrite(TENANTS[0], 3, 200);
  await productWrite(TENANTS[1], 3, 300);
  await seal();
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.end()));
  await signerPool.end();
  await db.pool.query(`drop owned by "${APP}"; drop role "${APP}"`).catch(() => {});
  rmSync(exportDir, { recursive: true, force: true });
  rmSync(keyDir, { recursive: true, force: true });
});

describe('checkpoints of an attached table', () => {
  test('the signer role signs every chain of the table, naming schema, table and chain key, and exports them; verify is clean', async () => {
    const round = await runCheckpointRound(signerPool, { signer, sinks: [sink], policy: 'requested', waitForLock: true, now: () => SIGNED_AT });
    expect(round.skippedTables).toEqual([]);
    expect(round.failures).toEqual([]);
    expect(round.signed).toEqual([]);
    expect(round.signedTables.map((checkpoint) => checkpoint.chain_key).sort()).toEqual([...TENANTS].sort());
    for (const checkpoint of round.signedTables) {
      const rows = await chainRows(checkpoint.chain_key!);
      expect(checkpoint).toMatchObject({ v: 2, schema: 'public', table: 'audit_logs', chain_seq: rows.at(-1)!.seq, sealed_count: '11', checksum: rows.at(-1)!.checksum, signed_at: '2020-06-01T00:00:00.000Z' });
    }
    // Exported: one line per checkpoint, the signed members and the signature.
    const lines = readdirSync(exportDir).flatMap((file) => readFileSync(join(exportDir, file), 'utf8').split('\n').filter(Boolean));
    expect(lines).toHaveLength(2);
    expect(Object.keys(JSON.parse(lines[0]!))).toEqual(['chain_key', 'chain_seq', 'checksum', 'key_id', 'schema', 'sealed_count', 'signature', 'signed_at', 'table', 'v']);
    const recorded = await db.pool.query<{ chain_key: string; exported: string | null }>(
      `select c.chain_key, c.exported_to->>'directory' as exported from audit_chain_table_checkpoints c join audit_chain_tables t on t.id = c.table_id
        where t.schema_name = 'public' and t.table_name = 'audit_logs'`,
    );
    expect(recorded.rows).toHaveLength(2);
    expect(recorded.rows.every((row) => row.exported !== null)).toBe(true);
    // An unchanged head is not signed again.
    const idle = await runCheckpointRound(signerPool, { signer, sinks: [sink], policy: { everyRows: 1, intervalMs: 1 }, now: () => new Date('2020-07-01T00:00:00Z') });
    expect(idle.signedTables).toEqual([]);

    const report = await withCheckpoints();
    expect(report.breaks).toEqual([]);
    expect(report.checkpoints.trusted).toBe(2);
    const cli = await runCli(['verify', '--all', '--no-record']);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('attached tables: 2 trusted checkpoint(s)');
  });

  test('only the signer records checkpoints; nobody changes or removes one (AC020)', async () => {
    const [checkpoint] = (await db.pool.query('select * from audit_chain_table_checkpoints order by id limit 1')).rows;
    const insert = `insert into audit_chain_table_checkpoints (table_id, chain_key, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body)
                    select table_id, chain_key, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body from audit_chain_table_checkpoints where id = $1`;
    for (const kind of ['sealer', 'writer'] as const) {
      const client = await connectAs(db.url, roles[kind]);
      clients.push(client);
      await expectSqlState(client.query(insert, [checkpoint.id]), '42501');
    }
    const asSigner = await connectAs(db.url, roles.signer);
    clients.push(asSigner);
    await expectSqlState(asSigner.query('update audit_chain_table_checkpoints set chain_seq = chain_seq + 1 where id = $1', [checkpoint.id]), '42501');
    await expectSqlState(asSigner.query(`update audit_chain_table_checkpoints set exported_to = '{}' where id = $1`, [checkpoint.id]), 'AC020', /append-only/);
    await expectSqlState(asSigner.query('delete from audit_chain_table_checkpoints where id = $1', [checkpoint.id]), '42501');
    // The owner (here a superuser) meets the trigger.
    await expectSqlState(db.pool.query('update audit_chain_table_checkpoints set checksum = $2 where id = $1', [checkpoint.id, 'f'.repeat(64)]), 'AC020', /append-only/);
    await expectSqlState(db.pool.query('delete from audit_chain_table_checkpoints where id = $1', [checkpoint.id]), 'AC020');
    await expectSqlState(db.pool.query('truncate audit_chain_table_checkpoints'), 'AC020');
    expect((await db.pool.query('select * from audit_chain_table_checkpoints where id = $1', [checkpoint.id])).rows[0]).toEqual(checkpoint);
  });

  test('a checkpoint row forged by a superuser is a break (its signature), naming the chain it claims', async () => {
    const genuine = (await db.pool.query<{ id: string; table_id: number; body: Record<string, unknown> }>('select id::text, table_id, body from audit_chain_table_checkpoints where chain_key = $1', [TENANTS[0]])).rows[0]!;
    const lastGenuine = (await db.pool.query<{ id: string }>('select max(id)::text as id from audit_chain_table_checkpoints')).rows[0]!.id;
    const forgedBody: Record<string, unknown> = { ...genuine.body, chain_seq: String(BigInt(genuine.body.chain_seq as string) + 1n), checksum: 'e'.repeat(64) };
    await db.pool.query(
      `insert into audit_chain_table_checkpoints (table_id, chain_key, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9), ($1, null, 1, 1, $5, $6, $7, $8, '{}')`,
      [genuine.table_id, TENANTS[0], forgedBody.chain_seq, forgedBody.sealed_count, forgedBody.checksum, forgedBody.signed_at, forgedBody.key_id, forgedBody.signature, forgedBody],
    );
    const report = await withCheckpoints();
    expect(report.breaks.map((found) => [found.kind, found.chain])).toEqual([
      ['checkpoint_signature_invalid', label(TENANTS[0])],
      ['checkpoint_signature_invalid', expect.stringMatching(/^audit_chain_table_checkpoints id \d+$/)],
    ]);
    expect(report.breaks[0]!.message).toMatch(/^audit_chain_table_checkpoints id \d+: checkpoint at chain_seq \d+: the Ed25519 signature does not verify under key attached-1$/);
    const cli = await runCli(['verify', '--all', '--no-record']);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`break checkpoint_signature_invalid in ${label(TENANTS[0])}`);
    // Back to clean for the next tests: only with the trigger off (a superuser's privilege).
    await db.pool.query(`begin; set local session_replication_role = replica; delete from audit_chain_table_checkpoints where id > ${Number(lastGenuine)}; commit`);
    expect((await withCheckpoints()).breaks).toEqual([]);
  });

  test('a chain rewritten and recomputed end to end with the library is caught by its checkpoint', async () => {
    const tenant = TENANTS[0];
    const checkpoint = (await db.pool.query<{ chain_seq: string; checksum: string }>('select chain_seq::text, checksum from audit_chain_table_checkpoints where chain_key = $1', [tenant])).rows[0]!;
    const saved = (await db.pool.query('select audit_chain_seq, action, audit_chain_prev, audit_chain_checksum, audit_chain_version, audit_chain_pii_digest, audit_chain_pii_salt from public.audit_logs where org_id = $1', [tenant])).rows;
    const state = (await db.pool.query('select * from audit_chain_table_state where chain_key = $1', [tenant])).rows[0];
    const victim = (await chainRows(tenant))[4]!.seq;
    // The attacker: change a covered column, unseal the whole chain, reset its state, and let our sealer recompute it.
    await db.pool.query(`update public.audit_logs set action = 'report.deleted' where audit_chain_seq = $1`, [victim]);
    await db.pool.query(
      `update public.audit_logs set audit_chain_prev = null, audit_chain_checksum = null, audit_chain_version = null, audit_chain_pii_digest = null, audit_chain_pii_salt = null where org_id = $1`,
      [tenant],
    );
    await db.pool.query('update audit_chain_table_state set watermark_seq = 0, head_checksum = null, sealed_rows = 0 where chain_key = $1', [tenant]);
    await seal();
    const recomputed = await chainRows(tenant);
    expect(recomputed.at(-1)!.seq).toBe(checkpoint.chain_seq);
    expect(recomputed.at(-1)!.checksum).not.toBe(checkpoint.checksum);

    // Links, content and state hold: without the checkpoints nothing shows.
    expect((await verifyAttachedTables(db.pool)).breaks).toEqual([]);
    const report = await withCheckpoints();
    expect(report.breaks.map((found) => [found.kind, found.chain, found.chainSeq])).toEqual([['checkpoint_mismatch', label(tenant), checkpoint.chain_seq]]);
    expect(report.breaks[0]!.message).toContain(`the row at checkpoint chain_seq ${checkpoint.chain_seq} (signed 2020-06-01T00:00:00.000Z by attached-1) has checksum ${recomputed.at(-1)!.checksum}, the checkpoint signed ${checkpoint.checksum}: history was rewritten`);
    const cli = await runCli(['verify', '--all', '--no-record']);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`break checkpoint_mismatch in ${label(tenant)} at chain_seq ${checkpoint.chain_seq}`);
    expect(cli.stderr).toContain('verification found 1 break');
    expect((await runCli(['verify', '--table', 'public.audit_logs', '--no-record'])).code).toBe(1);

    // Put the original chain back.
    for (const row of saved) {
      await db.pool.query(
        `update public.audit_logs set action = $2, audit_chain_prev = $3, audit_chain_checksum = $4, audit_chain_version = $5, audit_chain_pii_digest = $6, audit_chain_pii_salt = $7 where audit_chain_seq = $1`,
        [row.audit_chain_seq, row.action, row.audit_chain_prev, row.audit_chain_checksum, row.audit_chain_version, row.audit_chain_pii_digest, row.audit_chain_pii_salt],
      );
    }
    await db.pool.query('update audit_chain_table_state set watermark_seq = $2, head_checksum = $3, sealed_rows = $4 where chain_key = $1', [tenant, state.watermark_seq, state.head_checksum, state.sealed_rows]);
    expect((await withCheckpoints()).breaks).toEqual([]);
  });

  test('a head whose row does not carry the state\'s checksum is not signed; the other chains are', async () => {
    const [tenant, other] = TENANTS;
    const state = (await db.pool.query<{ head_checksum: string }>('select head_checksum from audit_chain_table_state where chain_key = $1', [tenant])).rows[0]!;
    await db.pool.query('update audit_chain_table_state set head_checksum = $2 where chain_key = $1', [tenant, 'e'.repeat(64)]);
    try {
      const round = await runCheckpointRound(signerPool, { signer, sinks: [], policy: 'requested', waitForLock: true, now: () => new Date('2020-06-02T00:00:00Z') });
      expect(round.skippedTables.map((entry) => [entry.chain, entry.reason])).toEqual([[label(tenant), 'head_row_mismatch']]);
      expect(round.skippedTables[0]!.message).toMatch(new RegExp(`got checksum [0-9a-f]{64}, want the chain state's head e{64}`));
      expect(round.signedTables.map((checkpoint) => checkpoint.chain_key)).toEqual([other]);
    } finally {
      await db.pool.query('update audit_chain_table_state set head_checksum = $2 where chain_key = $1', [tenant, state.head_checksum]);
    }
    expect((await withCheckpoints()).breaks).toEqual([]);
  });

  test('the worker\'s checkpoint loop signs an attached chain whose head moved, and only that one', async () => {
    const [tenant] = TENANTS;
    await productWrite(tenant, 2, 400);
    await seal();
    const head = (await chainRows(tenant)).at(-1)!;
    const before = (await db.pool.query<{ id: string }>('select max(id)::text as id from audit_chain_table_checkpoints')).rows[0]!.id;
    const config = loadConfig({
      AUDIT_CHAIN_DATA_DIR: keyDir,
      AUDIT_CHAIN_SIGNING_KEY_FILE: keyFiles.privateKeyFile,
      AUDIT_CHAIN_SIGNING_KEY_ID: pair.keyId,
      AUDIT_CHAIN_CHECKPOINT_DIR: exportDir,
      AUDIT_CHAIN_CHECKPOINT_EVERY_ROWS: '1',
    });
    const loop = startCheckpointLoop({ databaseUrl: db.url, config, logger: pino({ level: 'silent' }), pollMs: 50 });
    try {
      expect(loop.signing).toBe(true);
      await waitFor('the loop to sign the moved head', async () =>
        (await db.pool.query('select 1 from audit_chain_table_checkpoints where chain_key = $1 and chain_seq = $2', [tenant, head.seq])).rowCount === 1,
      );
    } finally {
      await loop.stop();
    }
    const signed = await db.pool.query<{ chain_key: string; checksum: string; exported: string | null }>(
      `select chain_key, checksum, exported_to->>'directory' as exported from audit_chain_table_checkpoints where id > $1`,
      [before],
    );
    expect(signed.rows).toEqual([{ chain_key: tenant, checksum: head.checksum, exported: expect.any(String) }]);
    expect((await withCheckpoints()).breaks).toEqual([]);
  });

  test('rows deleted at the tail below a checkpoint, the state set to match, are caught; the head is not signed again', async () => {
    const tenant = TENANTS[1];
    const rows = await chainRows(tenant);
    const checkpointSeq = rows.at(-1)!.seq;
    const kept = rows.at(-3)!;
    await db.pool.query('delete from public.audit_logs where org_id = $1 and audit_chain_seq > $2', [tenant, kept.seq]);
    await db.pool.query('update audit_chain_table_state set watermark_seq = $2, head_checksum = $3, sealed_rows = sealed_rows - 2 where chain_key = $1', [tenant, kept.seq, kept.checksum]);

    expect((await verifyAttachedTables(db.pool)).breaks).toEqual([]);
    const report = await withCheckpoints();
    expect(report.breaks.map((found) => found.kind)).toEqual(['tail_truncated', 'head_mismatch']);
    expect(report.breaks.every((found) => found.chain === label(tenant))).toBe(true);
    expect(report.breaks[0]!.message).toBe(
      // Two: the first round's and the one signed beside the mismatched head above.
      `the chain ends at chain_seq ${kept.seq}, but 2 signed checkpoint(s), up to chain_seq ${checkpointSeq} with sealed_count 11 (signed 2020-06-02T00:00:00.000Z by attached-1), cover rows beyond it: the tail was deleted`,
    );
    expect(report.breaks[1]!.message).toContain(`the chain state's watermark ${kept.seq} is below the trusted checkpoint's chain_seq ${checkpointSeq}`);
    const cli = await runCli(['verify', '--all', '--no-record']);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`break tail_truncated in ${label(tenant)} at chain_seq ${checkpointSeq}`);

    // The signer refuses to bless the shortened chain.
    const signing = await runCli(['checkpoint', '--table', 'public.audit_logs']);
    expect(signing.code).toBe(1);
    expect(signing.stdout).toMatch(new RegExp(`signed ${label(TENANTS[0])} at chain_seq \\d+ \\(13 rows, head [0-9a-f]{64}\\) with key attached-1`));
    expect(signing.stderr).toContain(`${label(tenant)} not signed: watermark ${kept.seq}: got it below the last checkpoint's chain_seq ${checkpointSeq}`);

    // Every row of the chain deleted, and its state: the checkpoints still name it.
    await db.pool.query('delete from public.audit_logs where org_id = $1', [tenant]);
    await db.pool.query('delete from audit_chain_table_state where chain_key = $1', [tenant]);
    const gone = await withCheckpoints();
    expect(gone.breaks.map((found) => [found.kind, found.chain])).toEqual([['tail_truncated', label(tenant)]]);
    expect(gone.breaks[0]!.message).toContain('no row and no chain state of this chain');
  });

  test('a torn line in the checkpoint files is reported once, by verify --all and by verify --table', async () => {
    appendFileSync(join(exportDir, readdirSync(exportDir)[0]!), '{"v":2,"schema":"pub\n');
    const all = await runCli(['verify', '--all', '--no-record']);
    expect(all.code).toBe(1);
    expect(all.stdout.match(/invalid JSON/g)).toHaveLength(1);
    const one = await runCli(['verify', '--table', 'public.audit_logs', '--no-record']);
    expect(one.code).toBe(1);
    expect(one.stdout.match(/invalid JSON/g)).toHaveLength(1);
    expect(one.stdout).toMatch(/break checkpoint_signature_invalid in \S+checkpoints-2020-06-0\d\.jsonl/);
  });

  test('checkpoint and verify name an unknown table in one line and exit 2', async () => {
    const signing = await runCli(['checkpoint', '--table', 'public.nothing']);
    expect(signing.code).toBe(2);
    expect(signing.stderr).toBe('audit-chain: no attached table public.nothing (audit_chain_tables): see `audit-chain status`\n');
    const verifying = await runCli(['verify', '--table', 'public.nothing', '--no-record']);
    expect(verifying.code).toBe(2);
    expect(verifying.stderr).toContain('no attached table public.nothing');
  });
});
