// A time-partitioned audit_logs (audit-chain partition convert, drizzle/0018)
// against a real PostgreSQL: a migrated database with rows, sealed and pending,
// is converted; then the insert path (one sequence across partitions, the
// writer's privileges), the safe horizon through partition locks, sealing
// across partitions, the no-fork guarantee across partitions, the append-only
// rules on partitions, and retention dropping whole old partitions after a
// checkpoint at the end of each chain in them. Verification ends clean.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { convertToPartitioned, listPartitions, retainChains, type PartitionInfo } from '@audit-chain/lifecycle';
import { sealOnce } from '@audit-chain/sealing';
import { DirectoryCheckpointSink, generateSigningKeyPair, loadSigningKey, verifyChains } from '@audit-chain/verification';
import { connect, createTestDatabase } from '../support/database.ts';
import { newOrgId } from '../support/audit-rows.ts';
import { connectAs, expectSqlState, readRoles } from '../db/helpers.ts';

const db = await createTestDatabase();
const roles = await readRoles(db.pool);
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-partitioned-'));
const pair = generateSigningKeyPair('partition-test-1', new Date('2020-01-01T00:00:00Z'));
const signer = loadSigningKey({ pem: pair.privatePem, keyId: pair.keyId })!;
const sink = new DirectoryCheckpointSink(dir);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DAY = 86_400_000;
const now = Date.now();
/**
 * The 15th, at noon UTC, of the calendar month `n` months before this one: rows
 * placed "n months ago" this way land in n different months whatever the day
 * the suite runs (30-day steps from today could put two of them in one month).
 */
function monthsAgo(n: number): Date {
  const today = new Date(now);
  return new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - n, 15, 12));
}
/** The conversion is done "28 months ago", so that old months exist as partitions for retention to drop. */
const convertedAt = monthsAgo(28);
const [orgA, orgB, orgC, orgD] = [newOrgId(), newOrgId(), newOrgId(), newOrgId()];
const clients: pg.Client[] = [];
afterAll(async () => {
  await Promise.all(clients.map((client) => client.end().catch(() => {})));
});

async function insertAt(orgId: string | null, recordedAt: Date, count = 1, action = 'doc.read'): Promise<string[]> {
  const result = await db.pool.query<{ chain_seq: string }>(
    `insert into audit_logs (org_id, actor_type, actor_id, actor_email, action, ip_address, user_agent, recorded_at, occurred_at)
     select $1, 'user', 'u-' || g, 'u' || g || '@example.com', $2, '192.0.2.1', 'agent', $3, $3 from generate_series(1, $4::int) g
     returning chain_seq::text`,
    [orgId, action, recordedAt, count],
  );
  return result.rows.map((row) => row.chain_seq);
}

async function seal(waitMs = 5000) {
  const result = await sealOnce(db.pool, { batchSize: 500, waitMs, pollMs: 20 });
  expect(result.broken).toEqual([]);
  return result;
}

async function verifyAll() {
  return verifyChains(db.pool, { keyring: [pair.keyringEntry], checkpointSources: { directories: [{ path: dir, required: false }], table: true } });
}

let partitions: PartitionInfo[];
let lastSeqBefore: bigint;
let firstSeqAfter: bigint;

beforeAll(async () => {
  // Before: a plain audit_logs with 30-month-old rows, most sealed, some pending.
  await insertAt(orgA, monthsAgo(30), 20);
  await insertAt(orgB, monthsAgo(30), 10);
  await seal();
  await insertAt(orgA, monthsAgo(29), 5);
  lastSeqBefore = BigInt((await db.pool.query<{ m: string }>('select max(chain_seq)::text as m from audit_logs')).rows[0]!.m);
  const result = await convertToPartitioned(db.pool, { now: convertedAt, monthsAhead: 31 });
  expect(result.converted).toBe(true);
  expect(result.forks).toEqual([]);
  expect(result.claimedLinks).toBe(30);
  partitions = await listPartitions(db.pool);
  // Rows of past months, written (as an import would) before any recent row of their chains.
  firstSeqAfter = BigInt((await insertAt(orgA, monthsAgo(20), 4))[0]!);
  await insertAt(orgB, monthsAgo(20), 2);
  await insertAt(orgA, monthsAgo(21), 2); // recorded in an earlier month, but later in the chain: a straggler
  await insertAt(orgA, monthsAgo(18), 3);
  await insertAt(orgC, monthsAgo(16), 6); // orgC: every row old, its head in this month
}, 60_000);

describe('conversion', () => {
  test('audit_logs is partitioned by month of recorded_at: the old table first, months after, a DEFAULT last', async () => {
    const kind = (await db.pool.query("select relkind::text from pg_class where oid = 'audit_logs'::regclass")).rows[0].relkind;
    expect(kind).toBe('p');
    expect(partitions[0]!.name).toBe('audit_logs_p_initial');
    expect(partitions[0]!.from).toBeNull();
    expect(partitions.at(-1)!.isDefault).toBe(true);
    expect(partitions.length).toBe(1 + 32 + 1);
    const months = partitions.slice(1, -1);
    for (const [i, month] of months.entries()) {
      expect(month.to!.getTime() - month.from!.getTime()).toBeGreaterThanOrEqual(28 * DAY);
      if (i > 0) expect(month.from).toEqual(months[i - 1]!.to);
    }
    expect(months[0]!.from).toEqual(partitions[0]!.to);
  });

  test('no row moved or changed, and the sequence goes on from where it was', async () => {
    expect((await db.pool.query('select count(*)::int as n from audit_logs_p_initial')).rows[0].n).toBe(35);
    expect(firstSeqAfter).toBe(lastSeqBefore + 1n);
  });

  test('the writer inserts through the parent, not into a partition, and still cannot give chain_seq', async () => {
    const writer = await connectAs(db.url, roles.writer);
    clients.push(writer);
    const row = await writer.query("insert into audit_logs (org_id, actor_type, action) values ($1, 'user', 'writer.ok') returning chain_seq, tableoid::regclass::text as part", [orgB]);
    expect(row.rows[0].part).toMatch(/^audit_logs_p\d{6}$/);
    await expectSqlState(writer.query("insert into audit_logs_p_initial (org_id, actor_type, action) values ($1, 'user', 'x')", [orgB]), '42501');
    await expectSqlState(writer.query("insert into audit_logs (org_id, actor_type, action, chain_seq) values ($1, 'user', 'x', 1)", [orgB]), '42501');
  });
});

describe('the safe horizon through partition locks', () => {
  // orgD: its first row is the held one, its later rows recent, so retention can still cut it cleanly.
  test.each([
    ['directly into a partition', 'audit_logs_p_initial', monthsAgo(29)],
    ['through the parent', 'audit_logs', new Date(now - 10 * DAY)],
  ])('an open transaction writing %s holds sealing back until it ends', async (_how, table, recordedAt) => {
    await seal();
    const holder = await connect(db.url, 'audit-chain test holder');
    clients.push(holder);
    await holder.query('begin');
    const held = BigInt((await holder.query(`insert into ${table} (org_id, actor_type, action, recorded_at) values ($1, 'user', 'held', $2) returning chain_seq`, [orgD, recordedAt])).rows[0].chain_seq);
    const later = await insertAt(orgD, new Date(), 3, 'after');
    const during = await seal(300);
    expect(during.horizon).toBeLessThan(held);
    expect(during.holders.map((holderRow) => holderRow.applicationName)).toContain('audit-chain test holder');
    const state = (await db.pool.query('select watermark_seq::text from audit_chain_state where org_id = $1', [orgD])).rows[0];
    expect(BigInt(state?.watermark_seq ?? '0')).toBeLessThan(held);
    await holder.query('commit');
    await seal();
    const after = BigInt((await db.pool.query('select watermark_seq::text from audit_chain_state where org_id = $1', [orgD])).rows[0].watermark_seq);
    expect(after).toBe(BigInt(later.at(-1)!));
  });
});

describe('sealing and the no-fork guarantee across partitions', () => {
  test('a chain spread over partitions seals and verifies', async () => {
    await insertAt(orgA, new Date(now - 2 * DAY), 3);
    await insertAt(orgB, new Date(now - 2 * DAY), 3);
    await seal();
    const spread = await db.pool.query<{ n: number }>('select count(distinct tableoid)::int as n from audit_logs where org_id = $1', [orgA]);
    expect(spread.rows[0]!.n).toBeGreaterThanOrEqual(5);
    const report = await verifyAll();
    expect(report.breaks).toEqual([]);
    expect(report.ok).toBe(true);
  });

  test('every sealed link is claimed once; the sealer cannot link a row in another partition to a used predecessor', async () => {
    const claims = (await db.pool.query('select (select count(*) from audit_chain_link_claims)::int as claims, (select count(*) from audit_logs where prev_checksum is not null)::int as sealed')).rows[0];
    expect(claims.claims).toBe(claims.sealed);
    const used = (await db.pool.query<{ prev_checksum: string; part: string }>(
      "select prev_checksum, tableoid::regclass::text as part from audit_logs where org_id = $1 and tableoid = 'audit_logs_p_initial'::regclass and prev_checksum is not null order by chain_seq offset 3 limit 1",
      [orgA],
    )).rows[0]!;
    const [pending] = await insertAt(orgA, new Date(now - DAY), 1, 'to.fork');
    const sealer = await connectAs(db.url, roles.sealer);
    clients.push(sealer);
    await expectSqlState(
      sealer.query(
        "update audit_logs set prev_checksum = $1, checksum = repeat('f', 64), checksum_version = 1, pii_digest = repeat('e', 64), pii_salt = repeat('d', 32) where org_id = $2 and chain_seq = $3",
        [used.prev_checksum, orgA, pending],
      ),
      '23505',
      /audit_chain_link_claims_unique/,
    );
    await seal();
  });
});

describe('append-only on partitions', () => {
  test('a DELETE or TRUNCATE naming a partition fails like one on the parent; so does a content change', async () => {
    await expectSqlState(db.pool.query('delete from audit_logs_p_initial where org_id = $1', [orgA]), 'AC002');
    await expectSqlState(db.pool.query('truncate audit_logs_p_initial'), 'AC003');
    const month = partitions.find((partition) => partition.from && partition.to && partition.from.getTime() <= now - 2 * DAY && now - 2 * DAY < partition.to.getTime())!;
    await expectSqlState(db.pool.query(`delete from ${month.name}`), 'AC002');
    await expectSqlState(db.pool.query(`truncate ${month.name}`), 'AC003');
    await expectSqlState(db.pool.query("update audit_logs_p_initial set action = 'forged' where org_id = $1", [orgA]), 'AC001');
  });
});

describe('retention drops whole old partitions after checkpointing their end', () => {
  let result: Awaited<ReturnType<typeof retainChains>>;
  const olderThan = new Date(now - 400 * DAY);

  beforeAll(async () => {
    await seal();
    result = await retainChains(db.pool, { olderThan, signer, keyring: [pair.keyringEntry], sinks: [sink] });
  }, 60_000);

  test('the old months up to the one holding a chain head are dropped; that one and younger stay', async () => {
    const dropped = result.partitions.filter((partition) => !partition.skipped).map((partition) => partition.partition);
    const stopped = result.partitions.find((partition) => partition.skipped)!;
    expect(dropped[0]).toBe('audit_logs_p_initial');
    expect(stopped.skipped).toMatch(new RegExp(`holds the head .* of chain ${orgC}`));
    const left = (await listPartitions(db.pool)).map((partition) => partition.name);
    for (const name of dropped) expect(left).not.toContain(name);
    expect(left).toContain(stopped.partition);
    // The month where a row was recorded late (chain order after the next month's rows) went with its straggler.
    expect(result.partitions.reduce((sum, partition) => sum + partition.stragglers, 0)).toBeGreaterThan(0);
    expect(result.failed).toBe(0);
  });

  test('what is older than the limit is gone, except the chain heads', async () => {
    const old = await db.pool.query<{ org_id: string; n: number }>('select org_id::text, count(*)::int as n from audit_logs where recorded_at < $1 group by org_id', [olderThan]);
    expect(old.rows).toEqual([{ org_id: orgC, n: 1 }]);
    const cuts = await db.pool.query<{ n: number }>('select count(*)::int as n from audit_chain_retention_cuts where dropped_partitions is not null');
    expect(cuts.rows[0]!.n).toBeGreaterThanOrEqual(2);
  });

  test('verification starts from the checkpoints and ends clean', async () => {
    await seal();
    const report = await verifyAll();
    expect(report.breaks).toEqual([]);
    expect(report.ok).toBe(true);
    const started = report.chains.filter((chain) => chain.startedAfter !== null).map((chain) => chain.orgId);
    expect(started.sort()).toEqual([orgA, orgB, orgC, orgD].sort());
  });
});
