// Retention (audit-chain retain, drizzle/0015_retention_cuts.sql) against a real
// PostgreSQL: old rows leave each chain as a prefix, after a signed checkpoint at
// the cut was recorded and exported; the head row stays; verification starts
// from the checkpoint, passes, and still catches tampering in what remains; no
// other DELETE (not even the owner's) and no TRUNCATE gets through.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signCheckpoint, type CheckpointSigner, type SignedCheckpoint } from '@audit-chain/chain';
import { LifecycleError, retainChains, type RetentionSink } from '@audit-chain/lifecycle';
import { sealOnce } from '@audit-chain/sealing';
import { DirectoryCheckpointSink, generateSigningKeyPair, loadSigningKey, runCheckpointRound, verifyChains } from '@audit-chain/verification';
import { createTestDatabase } from '../support/database.ts';
import { newOrgId } from '../support/audit-rows.ts';
import { connectAs, expectSqlState, readRoles } from '../db/helpers.ts';

const db = await createTestDatabase();
const roles = await readRoles(db.pool);
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-retention-'));
const pair = generateSigningKeyPair('retention-test-1', new Date('2020-01-01T00:00:00Z'));
const signer = loadSigningKey({ pem: pair.privatePem, keyId: pair.keyId })!;
const keyring = [pair.keyringEntry];
const sink = new DirectoryCheckpointSink(dir);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const orgA = newOrgId();
const orgB = newOrgId();
const DAY = 86_400_000;
const olderThan = new Date(Date.now() - 400 * DAY);

/** Inserts rows recorded `daysAgo[i]` days ago, in that order (as a migrating superuser may). */
async function insertAged(orgId: string | null, daysAgo: number[]): Promise<void> {
  for (const days of daysAgo) {
    await db.pool.query(
      `insert into audit_logs (org_id, actor_type, actor_id, actor_email, action, details, ip_address, user_agent, occurred_at, recorded_at)
       values ($1, 'user', 'u-1', 'u1@example.com', 'doc.read', $2, '192.0.2.7', 'agent', now() - make_interval(days => $3), now() - make_interval(days => $3))`,
      [orgId, JSON.stringify({ days }), days],
    );
  }
}

async function seal(): Promise<void> {
  expect((await sealOnce(db.pool, { batchSize: 1000, waitMs: 5000, pollMs: 20 })).broken).toEqual([]);
}

async function verifyAll() {
  return verifyChains(db.pool, { keyring, checkpointSources: { directories: [{ path: dir, required: true }], table: true } });
}

async function count(orgId: string | null): Promise<number> {
  const result = await db.pool.query<{ n: number }>(`select count(*)::int as n from audit_logs where ${orgId === null ? 'org_id is null' : 'org_id = $1'}`, orgId === null ? [] : [orgId]);
  return result.rows[0]!.n;
}

const range = (n: number, from: number, step = -1) => Array.from({ length: n }, (_, i) => from + i * step);

beforeAll(async () => {
  await insertAged(orgA, [...range(30, 900, -10), ...range(10, 100, -5)]); // 30 old rows, then 10 young ones
  await insertAged(orgB, range(5, 800, -20)); // all old: only the head stays
  await insertAged(null, [...range(8, 700, -20), ...range(4, 30, -5)]);
  await seal();
  // The worker's head checkpoints, signed before retention: below the cuts they are skipped, not broken.
  await runCheckpointRound(db.pool, { signer, sinks: [sink], policy: 'requested', waitForLock: true });
  expect((await verifyAll()).ok).toBe(true);
});

test('a dry run reports each chain\'s prefix and deletes nothing', async () => {
  const cuts: { orgId: string | null; rows: number }[] = [];
  const result = await retainChains(db.pool, { olderThan, dryRun: true, onCut: (cut) => cuts.push({ orgId: cut.orgId, rows: cut.rows }) });
  expect(result.deleted).toBe(30 + 4 + 8);
  expect(cuts).toEqual(expect.arrayContaining([{ orgId: orgA, rows: 30 }, { orgId: orgB, rows: 4 }, { orgId: null, rows: 8 }]));
  expect([await count(orgA), await count(orgB), await count(null)]).toEqual([40, 5, 12]);
});

test('without a signing key, a keyring or a sink nothing is deleted', async () => {
  await expect(retainChains(db.pool, { olderThan, signer: null, keyring, sinks: [sink] })).rejects.toThrow(LifecycleError);
  await expect(retainChains(db.pool, { olderThan, signer, keyring: null, sinks: [sink] })).rejects.toThrow(/needs the keyring/);
  await expect(retainChains(db.pool, { olderThan, signer, keyring, sinks: [] })).rejects.toThrow(LifecycleError);
  expect([await count(orgA), await count(orgB), await count(null)]).toEqual([40, 5, 12]);
});

test('a sink that fails stops the cut before the delete', async () => {
  const failing: RetentionSink = { name: 'webhook', target: 'http://unreachable.invalid', write: async () => { throw new Error('connection refused'); } };
  const result = await retainChains(db.pool, { olderThan, signer, keyring, sinks: [sink, failing], orgId: orgA });
  expect(result.failed).toBe(1);
  expect(result.chains[0]!.error).toMatch(/could not be exported to the webhook sink.*nothing deleted/);
  expect(await count(orgA)).toBe(40);
  expect((await db.pool.query('select count(*)::int as n from audit_chain_retention_cuts')).rows[0].n).toBe(0);
});

describe('retention cuts each chain after a signed checkpoint', () => {
  const signed: SignedCheckpoint[] = [];
  let result: Awaited<ReturnType<typeof retainChains>>;

  beforeAll(async () => {
    result = await retainChains(db.pool, { olderThan, signer, keyring, sinks: [sink], batchRows: 12, onCut: (cut) => signed.push(cut.checkpoint!) });
  });

  test('old rows are gone as a prefix, young rows and every head stay', async () => {
    expect(result.failed).toBe(0);
    expect(result.deleted).toBe(42);
    expect([await count(orgA), await count(orgB), await count(null)]).toEqual([10, 1, 4]);
    const oldest = await db.pool.query<{ org_id: string | null; old: number }>(
      'select org_id::text, count(*) filter (where recorded_at < $1)::int as old from audit_logs group by org_id order by org_id nulls first',
      [olderThan],
    );
    // Only orgB's head, which is old, is left of the old rows.
    expect(oldest.rows).toEqual(expect.arrayContaining([{ org_id: null, old: 0 }, { org_id: orgA, old: 0 }, { org_id: orgB, old: 1 }]));
  });

  test('cuts of at most --batch-rows rows, each with its own checkpoint naming the last deleted row', async () => {
    const cutsA = signed.filter((checkpoint) => checkpoint.org_id === orgA);
    expect(cutsA.map((checkpoint) => checkpoint.sealed_count)).toEqual(['12', '24', '30']);
    const recorded = await db.pool.query<{ org_id: string | null; cut_seq: string; sealed_count: string; deleted_rows: string; cut_by: string }>(
      'select org_id::text, cut_seq::text, sealed_count::text, deleted_rows::text, cut_by from audit_chain_retention_cuts order by id',
    );
    expect(recorded.rows.map((row) => [row.org_id, row.cut_seq, row.sealed_count])).toEqual(signed.map((c) => [c.org_id, c.chain_seq, c.sealed_count]));
    expect(recorded.rows.map((row) => Number(row.deleted_rows)).reduce((a, b) => a + b, 0)).toBe(42);
    // The first remaining row of each cut chain links to the last checkpoint's checksum.
    for (const orgId of [orgA, orgB, null]) {
      const last = signed.filter((checkpoint) => checkpoint.org_id === orgId).at(-1)!;
      const first = await db.pool.query<{ prev_checksum: string }>(
        `select prev_checksum from audit_logs where ${orgId === null ? 'org_id is null' : 'org_id = $1'} order by chain_seq limit 1`,
        orgId === null ? [] : [orgId],
      );
      expect(first.rows[0]!.prev_checksum).toBe(last.checksum);
    }
  });

  test('the checkpoints are in the exported directory', () => {
    const lines = readdirSync(dir).flatMap((file) => readFileSync(join(dir, file), 'utf8').trim().split('\n'));
    for (const checkpoint of signed) expect(lines).toContain(JSON.stringify(Object.fromEntries(Object.entries(checkpoint).sort(([a], [b]) => (a < b ? -1 : 1)))));
  });

  test('verification starts from the checkpoints and passes', async () => {
    const report = await verifyAll();
    expect(report.breaks).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.totals.rows).toBe(15);
    const started = Object.fromEntries(report.chains.map((chain) => [chain.orgId ?? 'system', chain.startedAfter]));
    expect(started).toEqual({ system: signed.filter((c) => c.org_id === null).at(-1)!.chain_seq, [orgA]: signed.filter((c) => c.org_id === orgA).at(-1)!.chain_seq, [orgB]: signed.filter((c) => c.org_id === orgB).at(-1)!.chain_seq });
  });

  test('the SQL function starts after each chain\'s latest cut and finds no break', async () => {
    for (const orgId of [orgA, orgB, null]) {
      const breaks = await db.pool.query('select * from audit_log_verify_chain($1::uuid)', [orgId]);
      expect(breaks.rows, orgId ?? 'system').toEqual([]);
    }
  });

  test('a second run finds nothing more to delete', async () => {
    const again = await retainChains(db.pool, { olderThan, signer, keyring, sinks: [sink] });
    expect(again.deleted).toBe(0);
  });
});

describe('verification after retention still catches tampering in what remains', () => {
  /** Runs `tamper` with the append-only triggers off (a superuser can), verifies, and undoes it. */
  async function withTampering(tamper: string, undo: string, values: unknown[]) {
    const client = await db.pool.connect();
    try {
      await client.query("set session_replication_role = 'replica'");
      await client.query(tamper, values);
      const report = await verifyAll();
      await client.query(undo, values);
      return report;
    } finally {
      await client.query("set session_replication_role = 'origin'");
      client.release();
    }
  }

  test('a content change in a remaining row', async () => {
    const row = (await db.pool.query<{ id: string; chain_seq: string }>('select id, chain_seq::text from audit_logs where org_id = $1 order by chain_seq offset 3 limit 1', [orgA])).rows[0]!;
    const report = await withTampering("update audit_logs set action = 'doc.delete' where id = $1", "update audit_logs set action = 'doc.read' where id = $1", [row.id]);
    expect(report.breaks).toEqual([expect.objectContaining({ kind: 'content_changed', orgId: orgA, chainSeq: row.chain_seq })]);
  });

  test('the first row after the cut deleted', async () => {
    const row = (await db.pool.query<{ id: string; chain_seq: string }>('select id, chain_seq::text from audit_logs where org_id is null order by chain_seq limit 1')).rows[0]!;
    const next = (await db.pool.query<{ chain_seq: string }>('select chain_seq::text from audit_logs where org_id is null and chain_seq > $1 order by chain_seq limit 1', [row.chain_seq])).rows[0]!;
    const client = await db.pool.connect();
    let report;
    try {
      await client.query("set session_replication_role = 'replica'");
      await client.query('create temp table saved as select * from audit_logs where id = $1', [row.id]);
      await client.query('delete from audit_logs where id = $1', [row.id]);
      report = await verifyAll();
      await client.query('insert into audit_logs overriding system value select * from saved');
    } finally {
      await client.query("set session_replication_role = 'origin'");
      client.release();
    }
    expect(report.breaks).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'link_broken', orgId: null, chainSeq: next.chain_seq })]));
  });

  test('and the chains verify clean again once undone', async () => {
    const report = await verifyAll();
    expect(report.breaks).toEqual([]);
  });
});

describe('no DELETE but the retention path', () => {
  const clients: pg.Client[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end()));
  });

  test('a plain DELETE by the table owner fails with AC002, TRUNCATE with AC003', async () => {
    await expectSqlState(db.pool.query('delete from audit_logs where org_id = $1', [orgA]), 'AC002');
    await expectSqlState(db.pool.query('truncate audit_logs'), 'AC003');
    expect(await count(orgA)).toBe(10);
  });

  test('naming a recorded cut does not let a DELETE reach rows above it', async () => {
    const cut = (await db.pool.query<{ id: string }>('select id::text from audit_chain_retention_cuts where org_id = $1 order by cut_seq desc limit 1', [orgA])).rows[0]!;
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await client.query("select set_config('audit_chain.retention_cuts', $1, true)", [`{${cut.id}}`]);
      await expectSqlState(client.query('delete from audit_logs where org_id = $1', [orgA]), 'AC002', /not covered by a retention cut/);
    } finally {
      await client.query('rollback');
      client.release();
    }
    expect(await count(orgA)).toBe(10);
  });

  test.each(['writer', 'sealer', 'admin'] as const)('the %s role may not call audit_chain_retain_prefix', async (kind) => {
    const client = await connectAs(db.url, roles[kind]);
    clients.push(client);
    await expectSqlState(client.query("select audit_chain_retain_prefix(1, now())"), '42501');
  });

  describe('the retention function re-checks the checkpoint before deleting', () => {
    let retention: pg.Client;
    beforeAll(async () => {
      const name = (await db.pool.query<{ role_name: string }>("select role_name from audit_chain_roles where kind = 'retention'")).rows[0]!.role_name;
      retention = await connectAs(db.url, name);
      clients.push(retention);
    });

    /** Signs and records a checkpoint as given (exported when `exported`), returns its id. */
    async function recorded(draft: { org_id: string | null; chain_seq: string; sealed_count: string; checksum: string }, exported = true, by: CheckpointSigner = signer): Promise<string> {
      const checkpoint = await signCheckpoint({ ...draft, signed_at: new Date().toISOString() }, by);
      const result = await db.pool.query<{ id: string }>(
        `insert into audit_chain_checkpoints (org_id, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body, exported_to)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id::text`,
        [draft.org_id, draft.chain_seq, draft.sealed_count, draft.checksum, checkpoint.signed_at, checkpoint.key_id, checkpoint.signature, JSON.stringify(checkpoint), JSON.stringify({ directory: exported ? new Date().toISOString() : null })],
      );
      return result.rows[0]!.id;
    }

    async function rowsOfA() {
      const rows = (await db.pool.query<{ chain_seq: string; checksum: string }>('select chain_seq::text, checksum from audit_logs where org_id = $1 order by chain_seq', [orgA])).rows;
      const state = (await db.pool.query<{ sealed_count: string }>('select sealed_count::text from audit_chain_state where org_id = $1', [orgA])).rows[0]!;
      return { rows, sealedCount: Number(state.sealed_count) };
    }

    test('a checkpoint not yet exported', async () => {
      const { rows, sealedCount } = await rowsOfA();
      const id = await recorded({ org_id: orgA, chain_seq: rows[0]!.chain_seq, checksum: rows[0]!.checksum, sealed_count: String(sealedCount - rows.length + 1) }, false);
      await expectSqlState(retention.query('select audit_chain_retain_prefix($1, now())', [id]), 'AC010', /has not reached every sink/);
    });

    test('a cut at the head row', async () => {
      const { rows, sealedCount } = await rowsOfA();
      const head = rows.at(-1)!;
      const id = await recorded({ org_id: orgA, chain_seq: head.chain_seq, checksum: head.checksum, sealed_count: String(sealedCount) });
      await expectSqlState(retention.query('select audit_chain_retain_prefix($1, now())', [id]), 'AC010', /strictly below/);
    });

    test('a checkpoint whose count or checksum the rows do not confirm', async () => {
      const { rows, sealedCount } = await rowsOfA();
      const position = sealedCount - rows.length + 1;
      const wrongCount = await recorded({ org_id: orgA, chain_seq: rows[0]!.chain_seq, checksum: rows[0]!.checksum, sealed_count: String(position - 1) });
      await expectSqlState(retention.query('select audit_chain_retain_prefix($1, now())', [wrongCount]), 'AC010', /want the checkpoint's sealed_count/);
      const wrongSum = await recorded({ org_id: orgA, chain_seq: rows[0]!.chain_seq, checksum: rows[1]!.checksum, sealed_count: String(position) });
      await expectSqlState(retention.query('select audit_chain_retain_prefix($1, now())', [wrongSum]), 'AC010', /want the checkpoint's/);
      // These two are signed lies about the chain: verification would rightly report them, so they go
      // (checkpoints are append-only, drizzle/0035: only a superuser with the triggers off can remove them).
      const admin = await db.pool.connect();
      try {
        await admin.query('begin');
        await admin.query('set local session_replication_role = replica');
        await admin.query('delete from audit_chain_checkpoints where id = any($1::bigint[])', [[wrongCount, wrongSum]]);
        await admin.query('commit');
      } finally {
        admin.release();
      }
    });

    test('rows younger than the limit', async () => {
      const { rows, sealedCount } = await rowsOfA();
      const id = await recorded({ org_id: orgA, chain_seq: rows[0]!.chain_seq, checksum: rows[0]!.checksum, sealed_count: String(sealedCount - rows.length + 1) });
      await expectSqlState(retention.query('select audit_chain_retain_prefix($1, $2)', [id, olderThan]), 'AC010', /recorded at or after/);
      expect(await count(orgA)).toBe(10);
    });
  });
});

test('the chains end clean: verification from the retention checkpoints', async () => {
  // The other refused checkpoints name rows that are there with their true values, so they hold too.
  await seal();
  const report = await verifyAll();
  expect(report.breaks).toEqual([]);
  expect(report.ok).toBe(true);
  for (const orgId of [orgA, orgB, null]) expect((await db.pool.query('select * from audit_log_verify_chain($1::uuid)', [orgId])).rows).toEqual([]);
});
