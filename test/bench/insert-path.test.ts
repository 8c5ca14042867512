// The benchmark's variants must be real implementations of what they claim to
// measure: each installs, takes every workload's statements, and the lock-based
// ones really keep a concurrent chain from forking. Correctness only; timings are
// the benchmark's business, never a test's.
import { beforeAll, describe, expect, test } from 'vitest';
import { createTestDatabase } from '../support/database.ts';
import { roundOrder } from './insert-path.ts';
import { medianRatio, type InsertMeasurement } from './insert-path-report.ts';
import { GENESIS_CHECKSUM, INSERT_VARIANTS, findVariant, type InsertVariant } from './insert-variants.ts';
import { INSERT_WORKLOADS, statementsFor } from './insert-workloads.ts';
import { parsePgbenchOutput } from './pgbench.ts';

const db = await createTestDatabase();

beforeAll(async () => {
  for (const variant of INSERT_VARIANTS) {
    if (variant.install) await db.pool.query(variant.install);
  }
});

async function reset(variant: InsertVariant): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(variant.reset);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

/** Runs one transaction of the workload's script on one connection, as pgbench would. */
async function runScript(variant: InsertVariant, workloadId: string, org: number, device: number): Promise<void> {
  const workload = INSERT_WORKLOADS.find((w) => w.id === workloadId);
  if (!workload) throw new Error(`no workload ${workloadId}`);
  const client = await db.pool.connect();
  try {
    for (const statement of statementsFor(workload, variant.table, org, device)) await client.query(statement);
  } finally {
    client.release();
  }
}

const orgUuid = (n: number) => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;

describe.each(INSERT_VARIANTS.map((variant) => [variant.id, variant] as const))('variant %s', (_, variant) => {
  test('takes every workload and the reset empties it', async () => {
    await reset(variant);
    for (const workload of INSERT_WORKLOADS) await runScript(variant, workload.id, 42, 7);
    const rows = await db.pool.query(`SELECT org_id, action, resource_id, chain_seq, checksum FROM ${variant.table}`);
    expect(rows.rows).toHaveLength(INSERT_WORKLOADS.length);
    for (const row of rows.rows) {
      expect(row.org_id).toBe(orgUuid(42));
      expect(row.action).toBe('session.submitted');
      expect(row.resource_id).toBe('device-7');
    }
    await reset(variant);
    const after = await db.pool.query(`SELECT count(*)::int AS count FROM ${variant.table}`);
    expect(after.rows[0].count).toBe(0);
  });
});

test("the project's table is the migrated one: no INSERT trigger, identity chain_seq, append-only kept", async () => {
  const triggers = await db.pool.query(
    `SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_logs'::regclass AND NOT tgisinternal AND (tgtype & 4) <> 0`,
  );
  expect(triggers.rows).toEqual([]);
  const identity = await db.pool.query(
    `SELECT attidentity FROM pg_attribute WHERE attrelid = 'audit_logs'::regclass AND attname = 'chain_seq'`,
  );
  expect(identity.rows[0].attidentity).toBe('a');
  const variant = findVariant('audit-chain');
  await reset(variant);
  await runScript(variant, 'hot-autocommit', 1, 1);
  // The reset skips the TRUNCATE guard only inside its own transaction.
  await expect(db.pool.query('TRUNCATE audit_logs')).rejects.toMatchObject({ code: 'AC003' });
});

describe.each([['advisory-lock'], ['commit-seal']])('%s under 24 concurrent writers of one org', (id) => {
  test('links one unforked chain', async () => {
    const variant = findVariant(id);
    await reset(variant);
    await Promise.all(Array.from({ length: 24 }, (_, i) => runScript(variant, i % 2 ? 'hot-autocommit' : 'hot-2ms-work', 1, i)));
    const rows = await db.pool.query<{ prev_checksum: string; checksum: string }>(
      `SELECT prev_checksum, checksum FROM ${variant.table} WHERE org_id = $1`,
      [orgUuid(1)],
    );
    expect(rows.rows).toHaveLength(24);
    const checksums = new Set(rows.rows.map((row) => row.checksum));
    const predecessors = rows.rows.map((row) => row.prev_checksum);
    expect(new Set(predecessors).size).toBe(24);
    expect(predecessors.filter((prev) => prev === GENESIS_CHECKSUM)).toHaveLength(1);
    for (const prev of predecessors) if (prev !== GENESIS_CHECKSUM) expect(checksums.has(prev)).toBe(true);
  });
});

test('counter-row gives an org gap-free numbers under 24 concurrent writers', async () => {
  const variant = findVariant('counter-row');
  await reset(variant);
  await Promise.all(Array.from({ length: 24 }, (_, i) => runScript(variant, 'hot-autocommit', 1, i)));
  const rows = await db.pool.query(`SELECT chain_seq::int AS seq FROM ${variant.table} ORDER BY chain_seq`);
  expect(rows.rows.map((row) => row.seq)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
});

test('pgbench output is read, and failed transactions are refused', () => {
  const output = [
    'number of transactions actually processed: 23456',
    'number of failed transactions: 0 (0.000%)',
    'latency average = 2.731 ms',
    'initial connection time = 12.345 ms',
    'tps = 11716.412345 (without initial connection time)',
  ].join('\n');
  expect(parsePgbenchOutput(output)).toEqual({ tps: 11716.412345, transactions: 23456, latencyMs: 2.731 });
  expect(() => parsePgbenchOutput(output.replace('failed transactions: 0', 'failed transactions: 3'))).toThrow(/3 failed/);
});

test('ratios pair the runs of one round', () => {
  const m = (round: number, variantId: string, tps: number): InsertMeasurement => ({
    round,
    variantId,
    workloadId: 'w',
    tps,
    latencyMs: 1,
    otherActiveSessions: 0,
  });
  const measurements = [m(0, 'plain', 100), m(0, 'x', 90), m(1, 'plain', 200), m(1, 'x', 190), m(2, 'plain', 50), m(2, 'x', 60)];
  expect(medianRatio(measurements, 'x', 'plain', 'w')).toBeCloseTo(0.95);
});

test('every round runs every variant once, plain and the project back to back', () => {
  const ids = INSERT_VARIANTS.map((variant) => variant.id);
  const firsts = new Set<string>();
  for (let round = 0; round < 2 * ids.length; round++) {
    const order = roundOrder(INSERT_VARIANTS, round).map((variant) => variant.id);
    expect([...order].sort()).toEqual([...ids].sort());
    expect(Math.abs(order.indexOf('plain') - order.indexOf('audit-chain'))).toBe(1);
    firsts.add(order[0] as string);
  }
  expect(firsts.size).toBeGreaterThan(2);
});
