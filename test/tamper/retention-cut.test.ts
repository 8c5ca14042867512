// After retention (drizzle/0015_retention_cuts.sql) both verifiers start a chain
// after its latest cut: `audit-chain verify` and audit_log_verify_chain()
// (drizzle/0020_verify_chain_after_retention.sql). A clean cut chain verifies
// clean in both; a remaining row relinked, a deleted row put back below the cut,
// and a cut record forged to hide rows are reported.
import { beforeAll, describe, expect, test } from 'vitest';
import { asAttacker, buildWorld, chainRows, show, sqlVerify, verifyJson, type World } from './support.ts';

let world: World;
/** Each cut chain's cut: the first checkpoint's chain_seq and checksum. */
const cuts = new Map<string | null, { seq: string; checksum: string }>();

beforeAll(async () => {
  world = await buildWorld({ rows: 10 });
  // Every chain but the last organization's is cut at its first checkpoint; the deleted rows are kept aside.
  await world.pool.query('create table saved_rows as select * from audit_logs with no data');
  for (const chain of world.chains.filter((chain) => chain !== world.orgs[2])) {
    const checkpoint = (
      await world.pool.query<{ id: string; chain_seq: string; checksum: string }>(
        'select id::text, chain_seq::text, checksum from audit_chain_checkpoints where org_id is not distinct from $1::uuid order by chain_seq limit 1',
        [chain],
      )
    ).rows[0]!;
    await world.pool.query('insert into saved_rows select * from audit_logs where org_id is not distinct from $1::uuid and chain_seq <= $2', [chain, checkpoint.chain_seq]);
    const deleted = await world.pool.query<{ n: string }>(`select audit_chain_retain_prefix($1::bigint, now() + interval '1 day')::text as n`, [checkpoint.id]);
    expect(Number(deleted.rows[0]!.n)).toBeGreaterThan(0);
    cuts.set(chain, { seq: checkpoint.chain_seq, checksum: checkpoint.checksum });
  }
});

test('after a retention run both verifiers find every chain clean', async () => {
  const report = await verifyJson(world);
  expect(report.breaks, show(report.breaks)).toEqual([]);
  for (const chain of world.chains) {
    const sql = await sqlVerify(world.pool, chain);
    expect(sql, show(sql)).toEqual([]);
  }
});

describe('tampering after the cut', () => {
  test('the first remaining row relinked: link_broken at it, against the cut\'s checksum', async () => {
    const chain = world.orgs[0]!;
    const first = (await chainRows(world.pool, chain))[0]!;
    const forged = 'f'.repeat(64);
    await asAttacker(world.url, (db) => db.query('update audit_logs set prev_checksum = $2 where id = $1::uuid', [first.id, forged]));
    try {
      const sql = await sqlVerify(world.pool, chain);
      expect(sql.map((b) => [b.kind, b.chain_seq, b.row_id, b.expected, b.found]), show(sql)).toEqual([
        ['link_broken', String(first.seq), first.id, cuts.get(chain)!.checksum, forged],
      ]);
      expect(sql[0]!.detail).toMatch(/first row after retention cut \d+ \(chain_seq \d+\)/);
      const report = await verifyJson(world);
      expect(report.breaks.map((b) => [b.kind, b.org_id, b.chain_seq]), show(report.breaks)).toEqual([
        ['link_broken', chain, String(first.seq)],
        ['content_changed', chain, String(first.seq)],
      ]);
    } finally {
      await asAttacker(world.url, (db) => db.query('update audit_logs set prev_checksum = $2 where id = $1::uuid', [first.id, first.prev]));
    }
    expect(await sqlVerify(world.pool, chain)).toEqual([]);
  });

  test('a deleted row put back below the cut: row_below_cut, and nothing else', async () => {
    for (const chain of [world.orgs[1]!, null]) {
      const saved = (
        await world.pool.query<{ id: string; chain_seq: string }>(
          'select id::text, chain_seq::text from saved_rows where org_id is not distinct from $1::uuid order by chain_seq offset 1 limit 1',
          [chain],
        )
      ).rows[0]!;
      await asAttacker(world.url, (db) => db.query('insert into audit_logs overriding system value select * from saved_rows where id = $1::uuid', [saved.id]));
      try {
        const sql = await sqlVerify(world.pool, chain);
        expect(sql.map((b) => [b.kind, b.chain_seq, b.row_id]), show(sql)).toEqual([['row_below_cut', saved.chain_seq, saved.id]]);
        expect(sql[0]!.detail).toMatch(new RegExp(`retention cut \\d+ \\(chain_seq ${cuts.get(chain)!.seq}\\)`));
        const report = await verifyJson(world);
        expect(report.breaks.map((b) => [b.kind, b.org_id, b.chain_seq, b.row_id]), show(report.breaks)).toEqual([['row_below_cut', chain, saved.chain_seq, saved.id]]);
        expect(report.breaks[0]!.expected).toBe(`no row at or below chain_seq ${cuts.get(chain)!.seq}`);
      } finally {
        await asAttacker(world.url, (db) => db.query('delete from audit_logs where id = $1::uuid', [saved.id]));
      }
    }
  });
});

describe('a forged cut record', () => {
  test('hiding rows that are still there: an unconfirmed cut, and each row below it', async () => {
    // The uncut chain: the attacker records a cut in its middle, with the row's true values.
    const chain = world.orgs[2]!;
    const rows = (await chainRows(world.pool, chain)).filter((row) => row.sealed);
    const at = 4;
    const target = rows[at]!;
    const state = (await world.pool.query<{ sealed_count: string }>('select sealed_count::text from audit_chain_state where org_id = $1::uuid', [chain])).rows[0]!;
    const position = String(Number(state.sealed_count) - (rows.length - 1 - at));
    const cutId = await asAttacker(world.url, async (db) =>
      (
        await db.query<{ id: string }>(
          `insert into audit_chain_retention_cuts (org_id, cut_seq, checkpoint_id, checksum, sealed_count, older_than)
           values ($1::uuid, $2, 999999, $3, $4, now()) returning id::text`,
          [chain, String(target.seq), target.checksum, position],
        )
      ).rows[0]!.id,
    );
    try {
      const hidden = rows.slice(0, at + 1);
      const report = await verifyJson(world);
      expect(report.breaks.map((b) => [b.kind, b.org_id, b.chain_seq, b.row_id]), show(report.breaks)).toEqual([
        ['checkpoint_mismatch', chain, String(target.seq), null],
        ...hidden.map((row) => ['row_below_cut', chain, String(row.seq), row.id]),
      ]);
      expect(report.breaks[0]!.message).toMatch(/no trusted checkpoint confirms the cut/);
      // The SQL function checks no signature: it sees the rows the cut would hide.
      const sql = await sqlVerify(world.pool, chain);
      expect(sql.map((b) => [b.kind, b.chain_seq, b.row_id]), show(sql)).toEqual(hidden.map((row) => ['row_below_cut', String(row.seq), row.id]));

      // The rows deleted too, behind the forged cut: only the missing signed checkpoint tells.
      await asAttacker(world.url, (db) => db.query('delete from audit_logs where org_id = $1::uuid and chain_seq <= $2', [chain, String(target.seq)]));
      const deleted = await verifyJson(world);
      expect(deleted.breaks.map((b) => [b.kind, b.org_id, b.chain_seq]), show(deleted.breaks)).toEqual([['checkpoint_mismatch', chain, String(target.seq)]]);
      expect(await sqlVerify(world.pool, chain)).toEqual([]);
    } finally {
      await asAttacker(world.url, (db) => db.query('delete from audit_chain_retention_cuts where id = $1::bigint', [cutId]));
    }
  });

  test('with values no checkpoint could hold (sealed_count above chain_seq): a break, not a failed run; the chain is checked from its first row', async () => {
    const chain = world.orgs[2]!;
    const rows = (await chainRows(world.pool, chain)).filter((row) => row.sealed);
    const target = rows[3]!;
    const cutId = await asAttacker(world.url, async (db) =>
      (
        await db.query<{ id: string }>(
          `insert into audit_chain_retention_cuts (org_id, cut_seq, checkpoint_id, checksum, sealed_count, older_than)
           values ($1::uuid, $2, 999999, $3, $4, now()) returning id::text`,
          [chain, String(target.seq), target.checksum, String(target.seq + 1000n)],
        )
      ).rows[0]!.id,
    );
    try {
      const report = await verifyJson(world);
      const kinds = report.breaks.map((b) => [b.kind, b.org_id, b.chain_seq]);
      expect(kinds.filter(([, org]) => org !== chain), show(report.breaks)).toEqual([]);
      expect(kinds, show(report.breaks)).toContainEqual(['checkpoint_mismatch', chain, String(target.seq)]);
      expect(report.breaks.some((b) => /cannot be a checkpoint \(sealed_count: got \d+, want at most chain_seq/.test(b.message)), show(report.breaks)).toBe(true);
      expect(report.breaks.filter((b) => b.kind === 'row_below_cut').map((b) => b.row_id)).toEqual(rows.slice(0, 4).map((row) => row.id));
    } finally {
      await asAttacker(world.url, (db) => db.query('delete from audit_chain_retention_cuts where id = $1::bigint', [cutId]));
    }
  });
});
