// Retention on attached tables (audit-chain retain --table, drizzle/0052)
// against a real PostgreSQL, with a fixed clock: old rows leave each chain of
// fixture product 1 as a prefix by the product's own created_at (a timestamp
// without time zone, read as UTC), after a signed checkpoint of the attached
// chain was written to the sink and verified against the keyring; the head row
// and pending rows stay; the limit is exact to the microsecond; verification
// starts each chain after its cut and passes, and still catches tampering,
// rows put back below a cut, and cuts no trusted checkpoint vouches for. A
// table without a timestamp column, or whose time column is not covered, is
// refused with one line; the retention role deletes nothing by itself.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signTableCheckpoint } from '@audit-chain/chain';
import { attachTable, retainAttachedTable, type RetentionSink } from '@audit-chain/lifecycle';
import { sealAttachedTables } from '@audit-chain/sealing';
import { DirectoryCheckpointSink, generateSigningKeyPair, loadSigningKey, verifyAttachedTables } from '@audit-chain/verification';
import { main } from '../../apps/cli/src/main.ts';
import { createTestDatabase } from '../support/database.ts';
import { newOrgId } from '../support/audit-rows.ts';
import { connectAs, expectSqlState } from '../db/helpers.ts';
import { TABLE, attachProduct, createProduct, productPool, sealProduct, seqsOf, writeAt } from '../attach/attached-fixture.ts';

const db = await createTestDatabase();
const product = productPool(db.name);
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-attached-retention-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pair = generateSigningKeyPair('attached-retention-1', new Date('2020-01-01T00:00:00Z'));
const signer = loadSigningKey({ pem: pair.privatePem, keyId: pair.keyId })!;
const keyring = [pair.keyringEntry];
const keyringFile = join(dir, 'keyring.json');
writeFileSync(keyringFile, JSON.stringify(keyring));
const sink = new DirectoryCheckpointSink(join(dir, 'checkpoints'));
const retention = (await db.pool.query<{ role_name: string }>("select role_name from audit_chain_roles where kind = 'retention'")).rows[0]!.role_name;

// The clock: every age is counted from here, never from the machine's time.
const NOW = new Date('2026-06-01T00:00:00Z');
const now = () => NOW;
const olderThan = new Date(NOW.getTime() - 400 * 86_400_000); // 2025-04-27T00:00:00Z
const LIMIT = '2025-04-27 00:00:00';
const JUST_BEFORE = '2025-04-26 23:59:59.999999';
const orgA = newOrgId();
const orgB = newOrgId();
const old = (n: number, month: number) => Array.from({ length: n }, (_, i) => `2024-${String(month).padStart(2, '0')}-${String(i + 1).padStart(2, '0')} 08:00:00`);

async function count(orgId: string): Promise<number> {
  return (await db.pool.query<{ n: number }>('select count(*)::int as n from public.audit_logs where org_id = $1', [orgId])).rows[0]!.n;
}

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'audit-chain', ...args], {
    env: {
      DATABASE_URL: db.url,
      AUDIT_CHAIN_SIGNING_KEY: pair.privatePem.replaceAll('\n', '\\n'),
      AUDIT_CHAIN_SIGNING_KEY_ID: pair.keyId,
      AUDIT_CHAIN_CHECKPOINT_DIR: join(dir, 'checkpoints'),
      AUDIT_CHAIN_KEYRING_FILE: keyringFile,
    },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    now,
  });
  return { code, stdout, stderr };
}

let seqsA: string[] = [];
let seqsB: string[] = [];
let tableId = 0;

beforeAll(async () => {
  await createProduct(db.pool);
  // Existing rows (numbered in created_at order by attach): A has 10 old rows and one a microsecond before the limit.
  await writeAt(product, orgA, [...old(10, 1), JUST_BEFORE]);
  await writeAt(product, orgB, old(5, 2));
  await attachProduct(db.pool);
  // Live rows, numbered as written: one exactly at the limit (young), then an old one after it, then young ones.
  await writeAt(product, orgA, [LIMIT, '2024-06-01 00:00:00', '2026-05-01 00:00:00', '2026-05-02 00:00:00']);
  await sealProduct(db.pool);
  // Pending rows (never sealed before retention runs), old by their time.
  await writeAt(product, orgB, old(2, 3));
  seqsA = await seqsOf(db.pool, orgA);
  seqsB = await seqsOf(db.pool, orgB);
  tableId = (await db.pool.query<{ id: number }>("select id from audit_chain_tables where schema_name = 'public' and table_name = 'audit_logs'")).rows[0]!.id;
  expect((await verifyAttachedTables(db.pool, { keyring })).breaks).toEqual([]);
});

describe('refused before anything is deleted', () => {
  test('the dry run reports each chain\'s prefix and deletes nothing', async () => {
    const result = await runCli(['retain', '--table', TABLE, '--older-than', '400d', '--dry-run']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`would delete 11 rows of ${TABLE} chain ${orgA} up to chain_seq ${seqsA[10]}`);
    // B: five sealed rows, the head stays; its two pending rows are not even counted.
    expect(result.stdout).toContain(`would delete 4 rows of ${TABLE} chain ${orgB} up to chain_seq ${seqsB[3]}`);
    expect(result.stdout).toContain(`would delete 15 rows of ${TABLE} whose created_at is before 2025-04-27T00:00:00.000Z in 2 chains`);
    expect([await count(orgA), await count(orgB)]).toEqual([15, 7]);
  });

  test('without a signing key, a keyring or a sink', async () => {
    const base = { table: TABLE, olderThan, now };
    await expect(retainAttachedTable(db.pool, { ...base, signer: null, keyring, sinks: [sink] })).rejects.toThrow(/needs the checkpoint signing key/);
    await expect(retainAttachedTable(db.pool, { ...base, signer, keyring: null, sinks: [sink] })).rejects.toThrow(/needs the keyring/);
    await expect(retainAttachedTable(db.pool, { ...base, signer, keyring, sinks: [] })).rejects.toThrow(/at least one checkpoint sink/);
    expect([await count(orgA), await count(orgB)]).toEqual([15, 7]);
  });

  test('a sink that fails stops the cut: nothing deleted, no cut recorded', async () => {
    const failing: RetentionSink = { name: 'webhook', target: 'http://unreachable.invalid', write: async () => { throw new Error('connection refused'); } };
    const result = await retainAttachedTable(db.pool, { table: TABLE, olderThan, now, signer, keyring, sinks: [sink, failing], chainKey: orgA });
    expect(result.failed).toBe(1);
    expect(result.chains[0]!.error).toMatch(/could not be exported to the webhook sink .*nothing deleted/);
    expect(await count(orgA)).toBe(15);
    expect((await db.pool.query('select count(*)::int as n from audit_chain_table_retention_cuts')).rows[0].n).toBe(0);
  });

  test('a checkpoint signed by a key outside the keyring stops the cut', async () => {
    const other = generateSigningKeyPair('not-trusted', new Date('2020-01-01T00:00:00Z'));
    const result = await retainAttachedTable(db.pool, { table: TABLE, olderThan, now, signer: loadSigningKey({ pem: other.privatePem, keyId: other.keyId })!, keyring, sinks: [new DirectoryCheckpointSink(join(dir, 'untrusted'))], chainKey: orgA });
    // (Its own sink directory: the untrusted line it exports is not one of this table's checkpoints, and verify would rightly report it.)
    expect(result.chains[0]!.error).toMatch(/is not one the keyring trusts \(key_id "not-trusted" is not in the keyring\); nothing deleted/);
    expect(await count(orgA)).toBe(15);
  });
});

describe('retention deletes each chain\'s old prefix after a signed, exported checkpoint', () => {
  let result: Awaited<ReturnType<typeof retainAttachedTable>>;
  beforeAll(async () => {
    result = await retainAttachedTable(db.pool, { table: TABLE, olderThan, now, signer, keyring, sinks: [sink], batchRows: 4 });
  });

  test('A loses its 11 old rows (in cuts of 4, 4, 3), B all but its head; pending rows stay', async () => {
    expect(result.failed).toBe(0);
    expect(result.chains).toEqual([
      expect.objectContaining({ chain: `${TABLE} chain ${[orgA, orgB].sort()[0]}` }),
      expect.objectContaining({ chain: `${TABLE} chain ${[orgA, orgB].sort()[1]}` }),
    ]);
    expect(result.chains.find((chain) => chain.chain.endsWith(orgA))).toMatchObject({ deleted: 11, cuts: 3 });
    expect(result.chains.find((chain) => chain.chain.endsWith(orgB))).toMatchObject({ deleted: 4, cuts: 1 });
    expect(await seqsOf(db.pool, orgA)).toEqual(seqsA.slice(11));
    expect(await seqsOf(db.pool, orgB)).toEqual(seqsB.slice(4));
  });

  test('the limit is exact: the row a microsecond before it went, the row at it stayed, and so did the old row after it', async () => {
    const left = await db.pool.query<{ created_at: string }>("select to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.US') as created_at from public.audit_logs where org_id = $1 order by audit_chain_seq", [orgA]);
    expect(left.rows.map((row) => row.created_at)).toEqual(['2025-04-27 00:00:00.000000', '2024-06-01 00:00:00.000000', '2026-05-01 00:00:00.000000', '2026-05-02 00:00:00.000000']);
  });

  test('each cut is recorded with its signed checkpoint, which is also in the sink\'s checkpoints file', async () => {
    const cuts = (await db.pool.query('select chain_key, cut_seq::text, sealed_count::text, time_column, deleted_rows::int, key_id, checkpoint from audit_chain_table_retention_cuts order by id')).rows;
    expect(cuts.map((cut) => [cut.chain_key, cut.cut_seq, cut.sealed_count, cut.deleted_rows])).toEqual(
      expect.arrayContaining([[orgA, seqsA[3], '4', 4], [orgA, seqsA[7], '8', 4], [orgA, seqsA[10], '11', 3], [orgB, seqsB[3], '4', 4]]),
    );
    expect(new Set(cuts.map((cut) => cut.time_column))).toEqual(new Set(['created_at']));
    expect(cuts[0].checkpoint).toMatchObject({ v: 2, schema: 'public', table: 'audit_logs', key_id: pair.keyId, signed_at: '2026-06-01T00:00:00.000Z' });
    const lines = readFileSync(join(dir, 'checkpoints', 'checkpoints-2026-06-01.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    for (const cut of cuts) expect(lines).toContainEqual(cut.checkpoint);
  });

  test('verify starts each chain after its cut and is clean; with the keyring each cut is vouched for', async () => {
    const report = await verifyAttachedTables(db.pool, { keyring });
    expect(report.breaks).toEqual([]);
    expect(report.chains.find((chain) => chain.chain.endsWith(orgA))).toMatchObject({ rows: 4, sealed: 4, cutSeq: seqsA[10] });
    expect(report.chains.find((chain) => chain.chain.endsWith(orgB))).toMatchObject({ rows: 3, sealed: 1, pending: 2, cutSeq: seqsB[3] });
  });

  test('sealing goes on after the cut (B\'s pending rows), and verify stays clean', async () => {
    await sealProduct(db.pool);
    const report = await verifyAttachedTables(db.pool, { keyring });
    expect(report.breaks).toEqual([]);
    expect(report.chains.find((chain) => chain.chain.endsWith(orgB))).toMatchObject({ rows: 3, sealed: 3, pending: 0 });
  });

  test('a second run takes what became a proper prefix since (B\'s old head and first formerly pending row), a third nothing', async () => {
    const again = await retainAttachedTable(db.pool, { table: TABLE, olderThan, now, signer, keyring, sinks: [sink] });
    expect(again).toMatchObject({ deleted: 2, failed: 0 });
    expect(await seqsOf(db.pool, orgB)).toEqual([seqsB[6]]);
    expect(await retainAttachedTable(db.pool, { table: TABLE, olderThan, now, signer, keyring, sinks: [sink] })).toMatchObject({ deleted: 0, failed: 0 });
    expect((await verifyAttachedTables(db.pool, { keyring })).breaks).toEqual([]);
  });
});

describe('the database refuses what the command would not do', () => {
  async function callAsRetention(checkpoint: Record<string, unknown>, exportedTo: Record<string, unknown> = { directory: NOW.toISOString() }, limit = olderThan): Promise<unknown> {
    const client = await connectAs(db.url, retention);
    try {
      return (await client.query('select audit_chain_retain_attached_prefix($1, $2, $3, $4, $5) as n', [tableId, 'created_at', limit.toISOString(), JSON.stringify(checkpoint), JSON.stringify(exportedTo)])).rows[0].n;
    } finally {
      await client.end();
    }
  }
  async function chainRow(seq: string): Promise<{ checksum: string }> {
    return (await db.pool.query('select audit_chain_checksum as checksum from public.audit_logs where audit_chain_seq = $1', [seq])).rows[0];
  }
  const signed = async (fields: { chain_key: string | null; chain_seq: string; sealed_count: string; checksum: string }) =>
    ({ ...(await signTableCheckpoint({ schema: 'public', table: 'audit_logs', signed_at: NOW.toISOString(), ...fields }, signer)) }) as unknown as Record<string, unknown>;

  test('the retention role cannot delete rows of the table itself', async () => {
    const client = await connectAs(db.url, retention);
    try {
      await expectSqlState(client.query('delete from public.audit_logs where org_id = $1', [orgA]), '42501');
    } finally {
      await client.end();
    }
  });

  test('a cut at the head, past a young row, with a wrong checksum or position, for another table, or not exported', async () => {
    // A's rows now: the limit row (young), an old one, two young ones; the head is the last.
    const [limitRow, oldRow, , head] = await seqsOf(db.pool, orgA);
    const position = (n: number) => String(11 + n);
    const atHead = await signed({ chain_key: orgA, chain_seq: head!, sealed_count: position(4), checksum: (await chainRow(head!)).checksum });
    await expectSqlState(callAsRetention(atHead), 'AC010', /want a cut strictly below it \(the head row stays\)/);
    const pastYoung = await signed({ chain_key: orgA, chain_seq: oldRow!, sealed_count: position(2), checksum: (await chainRow(oldRow!)).checksum });
    await expectSqlState(callAsRetention(pastYoung), 'AC010', /got 1 rows whose created_at is at or after .* \(or NULL\), want none/);
    const good = await signed({ chain_key: orgA, chain_seq: limitRow!, sealed_count: position(1), checksum: (await chainRow(limitRow!)).checksum });
    await expectSqlState(callAsRetention({ ...good, checksum: 'f'.repeat(64) }), 'AC010', /got checksum [0-9a-f]{64}, want the checkpoint's f{64}/);
    await expectSqlState(callAsRetention({ ...good, sealed_count: '3' }), 'AC010', /rows from genesis .* want the checkpoint's sealed_count 3/);
    await expectSqlState(callAsRetention({ ...good, table: 'other' }), 'AC010', /is not a signed checkpoint of a chain of public\.audit_logs/);
    await expectSqlState(callAsRetention({ ...good, schema: 'audit_chain' }), 'AC010', /is not a signed checkpoint of a chain of public\.audit_logs/);
    await expectSqlState(callAsRetention(good, {}), 'AC010', /has not reached every sink/);
    await expectSqlState(callAsRetention(good, { directory: NOW.toISOString(), webhook: null }), 'AC010', /has not reached every sink/);
    // Everything else right: the row at the cut is exactly at the limit, so not old enough.
    await expectSqlState(callAsRetention(good), 'AC010', /got 1 rows whose created_at is at or after/);
    expect(await count(orgA)).toBe(4);
  });
});

describe('tables whose age cannot be told, and the command line', () => {
  beforeAll(async () => {
    await db.pool.query('create table public.plain_events (id integer primary key, note text)');
    await db.pool.query("insert into public.plain_events select g, 'n' || g from generate_series(1, 5) g");
    await attachTable(db.pool, { table: 'public.plain_events', lockTimeoutMs: 2000 });
    await db.pool.query('create table public.zoned_events (id integer primary key, at timestamptz not null, seen_at timestamptz)');
    await db.pool.query(`insert into public.zoned_events select g, timestamptz '2024-01-01 00:00:00+00' + make_interval(days => g), now() from generate_series(1, 6) g`);
    await db.pool.query(`insert into public.zoned_events values (7, $1, now())`, [olderThan.toISOString()]);
    await attachTable(db.pool, { table: 'public.zoned_events', orderBy: ['at'], exclude: ['seen_at'], lockTimeoutMs: 2000 });
    expect((await sealAttachedTables(db.pool, { batchSize: 1000, waitMs: 5000 })).every((sealed) => sealed.status === 'sealed')).toBe(true);
  });

  test('a table without a time column is refused with one line', async () => {
    const none = await runCli(['retain', '--table', 'public.plain_events', '--older-than', '400d']);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('audit-chain: public.plain_events has no time column to tell a row\'s age (its first --order-by column id is not a timestamp): name one with --time-column\n');
    const text = await runCli(['retain', '--table', 'public.plain_events', '--time-column', 'note', '--older-than', '400d']);
    expect(text.stderr).toBe('audit-chain: --time-column: public.plain_events.note is text, want a timestamp (with or without time zone)\n');
    const missing = await runCli(['retain', '--table', 'public.plain_events', '--time-column', 'nope', '--older-than', '400d']);
    expect(missing.stderr).toBe('audit-chain: --time-column: public.plain_events has no column nope\n');
    const excluded = await runCli(['retain', '--table', 'public.zoned_events', '--time-column', 'seen_at', '--older-than', '400d']);
    expect(excluded.stderr).toMatch(/^audit-chain: --time-column: public\.zoned_events\.seen_at is not covered by the chain \(excluded\)/);
    const stray = await runCli(['retain', '--time-column', 'at', '--older-than', '400d']);
    expect(stray.stderr).toBe('audit-chain: --time-column and --chain apply to an attached table: give --table too\n');
    expect((await db.pool.query<{ n: number }>('select count(*)::int as n from public.plain_events')).rows[0]!.n).toBe(5);
  });

  test('retain --table on a timestamptz column of a table with one chain; verify exits 0 afterwards', async () => {
    // The checkpoint stage signs the chain's head first: checkpoints at or below the cut stay trusted, and verify takes them as vouched for by the cut.
    const signed = await runCli(['checkpoint', '--table', 'public.zoned_events']);
    expect(signed.stderr).toBe('');
    expect(signed.stdout).toContain('signed public.zoned_events chain (all rows)');
    const result = await runCli(['retain', '--table', 'public.zoned_events', '--older-than', '400d']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    // Six old rows; the seventh is exactly at the limit and the head anyway.
    expect(result.stdout).toMatch(/^deleted 6 rows of public\.zoned_events chain \(all rows\) up to chain_seq 6 \(checkpoint sealed_count 6, key attached-retention-1\)\n/);
    expect((await db.pool.query<{ n: number }>('select count(*)::int as n from public.zoned_events')).rows[0]!.n).toBe(1);
    const verified = await runCli(['verify', '--all', '--no-record', '--checkpoints', join(dir, 'checkpoints')]);
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain('public.zoned_events chain (all rows): 1 rows, 1 sealed, 0 pending, from the retention cut at chain_seq 6');
  });
});

describe('as an attacker, after retention', () => {
  test('a row put back below a cut is reported', async () => {
    await db.pool.query(
      `insert into public.audit_logs (org_id, actor_type, action, created_at, audit_chain_seq) overriding system value values ($1, 'user', 'forged', '2024-01-01', $2)`,
      [orgB, seqsB[1]],
    );
    const report = await verifyAttachedTables(db.pool, { keyring });
    expect(report.breaks.map((found) => [found.kind, found.chainSeq])).toEqual([['row_below_cut', seqsB[1]]]);
    await db.pool.query('delete from public.audit_logs where audit_chain_seq = $1', [seqsB[1]]);
  });

  test('a cut recorded without a trusted checkpoint, or not matching it, is reported with a keyring', async () => {
    const latest = (await db.pool.query('select id, cut_seq::text as seq, checkpoint from audit_chain_table_retention_cuts where chain_key = $1 order by id desc limit 1', [orgB])).rows[0];
    expect(latest.seq).toBe(seqsB[5]);
    // Moving the recorded cut (as someone who can write the table would, to hide a deletion) breaks its match with the signed line.
    await db.pool.query('update audit_chain_table_retention_cuts set sealed_count = sealed_count + 1 where id = $1', [latest.id]);
    let report = await verifyAttachedTables(db.pool, { keyring });
    expect(report.breaks.map((found) => [found.kind, found.chainSeq])).toEqual([['checkpoint_mismatch', latest.seq]]);
    await db.pool.query('update audit_chain_table_retention_cuts set sealed_count = sealed_count - 1 where id = $1', [latest.id]);
    // A forged signature.
    await db.pool.query("update audit_chain_table_retention_cuts set checkpoint = jsonb_set(checkpoint, '{signature}', to_jsonb(repeat('A', 86))) where id = $1", [latest.id]);
    report = await verifyAttachedTables(db.pool, { keyring });
    expect(report.breaks).toMatchObject([{ kind: 'checkpoint_mismatch', chainSeq: latest.seq, message: expect.stringMatching(/signature does not verify/) }]);
    await db.pool.query('update audit_chain_table_retention_cuts set checkpoint = $2 where id = $1', [latest.id, latest.checkpoint]);
    expect((await verifyAttachedTables(db.pool, { keyring })).breaks).toEqual([]);
  });

  test('a changed row after the cut, or a deleted first remaining row, is still caught', async () => {
    const [first, second] = await seqsOf(db.pool, orgA);
    await db.pool.query("update public.audit_logs set action = 'x' where audit_chain_seq = $1", [second]);
    expect((await verifyAttachedTables(db.pool, { keyring })).breaks.map((found) => [found.kind, found.chainSeq])).toEqual([['content_changed', second]]);
    await db.pool.query("update public.audit_logs set action = 'doc.read' where audit_chain_seq = $1", [second]);
    await db.pool.query('delete from public.audit_logs where audit_chain_seq = $1', [first]);
    expect((await verifyAttachedTables(db.pool, { keyring })).breaks.map((found) => [found.kind, found.chainSeq])).toEqual([['link_broken', second]]);
  });
});
