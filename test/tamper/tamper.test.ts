// Each kind of tampering, at a random position (TAMPER_SEED replays one), on
// chains written concurrently, sealed and checkpointed: `audit-chain verify
// --json` must name it with the right kind and position, and the SQL function
// audit_log_verify_chain must name the link-level ones.
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { checkpointLine, signCheckpoint } from '@audit-chain/chain';
import {
  asAttacker,
  buildWorld,
  chainRows,
  checkpointSeqs,
  computeLinks,
  newKey,
  pick,
  recomputeLinks,
  seededRandom,
  SEED,
  show,
  sqlVerify,
  verifyJson,
  writeLinks,
  type ChainRow,
  type JsonBreak,
  type World,
} from './support.ts';

const random = seededRandom(SEED);

function where(b: { kind: string; chain_seq: string | null; row_id?: string | null }) {
  return { kind: b.kind, chain_seq: b.chain_seq, row_id: b.row_id ?? null };
}

function sealedRows(rows: ChainRow[]): ChainRow[] {
  return rows.filter((row) => row.sealed);
}

/** Every break is about `orgId` and of one of `kinds`. */
function expectOnly(breaks: JsonBreak[], orgId: string | null, kinds: string[]): void {
  for (const b of breaks) {
    expect(kinds, `unexpected break ${show([b])}`).toContain(b.kind);
    expect(b.org_id, `break about another chain: ${show([b])}`).toBe(orgId);
  }
}

describe('tampering with rows', () => {
  test('a clean world verifies with zero breaks, in the CLI and in SQL', async () => {
    const world = await buildWorld();
    const report = await verifyJson(world);
    expect(report.breaks, show(report.breaks)).toEqual([]);
    expect(report.totals.chains).toBe(4);
    expect(report.totals.pending).toBe(12);
    for (const chain of world.chains) expect(await sqlVerify(world.pool, chain)).toEqual([]);
  });

  test('content changed in place (triggers off): content_changed at the row; SQL (links only) sees nothing', async () => {
    const world = await buildWorld();
    const chain = pick(random, world.chains);
    const victim = pick(random, sealedRows(await chainRows(world.pool, chain)));
    await asAttacker(world.url, (db) => db.query(`update audit_logs set action = 'tampered.' || action where id = $1::uuid`, [victim.id]));

    const report = await verifyJson(world);
    expect(report.breaks.map(where), show(report.breaks)).toEqual([{ kind: 'content_changed', chain_seq: String(victim.seq), row_id: victim.id }]);
    expect(report.breaks[0]!.org_id).toBe(chain);
    expect(report.breaks[0]!.expected).toBe(victim.checksum);
    expect(await sqlVerify(world.pool, chain)).toEqual([]);
  });

  test('a row deleted in the middle: link_broken at the next row, in the CLI and in SQL', async () => {
    const world = await buildWorld();
    const chain = pick(random, world.chains);
    const rows = sealedRows(await chainRows(world.pool, chain));
    const index = Math.floor(random() * (rows.length - 1));
    const [victim, next] = [rows[index]!, rows[index + 1]!];
    await asAttacker(world.url, (db) => db.query('delete from audit_logs where id = $1::uuid', [victim.id]));

    const report = await verifyJson(world);
    const links = report.breaks.filter((b) => b.kind === 'link_broken');
    expect(links.map(where), show(report.breaks)).toEqual([{ kind: 'link_broken', chain_seq: String(next.seq), row_id: next.id }]);
    expect(links[0]!.expected).toBe(victim.prev);
    expect(links[0]!.found).toBe(victim.checksum);
    expectOnly(report.breaks, chain, ['link_broken', 'head_mismatch', 'checkpoint_mismatch']);
    // The chain state counts one row more than the chain has.
    expect(report.breaks.some((b) => b.kind === 'head_mismatch'), show(report.breaks)).toBe(true);

    const sql = await sqlVerify(world.pool, chain);
    expect(sql.map(where)).toEqual([
      { kind: 'link_broken', chain_seq: String(next.seq), row_id: next.id },
      { kind: 'head_mismatch', chain_seq: expect.any(String), row_id: null },
    ]);
  });

  test('the tail deleted: tail_truncated from the checkpoints and head_mismatch from the chain state', async () => {
    const world = await buildWorld();
    const chain = pick(random, world.chains);
    const rows = await chainRows(world.pool, chain);
    const lastCheckpoint = (await checkpointSeqs(world.pool, chain)).at(-1)!;
    const candidates = sealedRows(rows).filter((row, i) => i > 0 && row.seq <= lastCheckpoint);
    const cut = pick(random, candidates);
    const survivor = rows[rows.indexOf(cut) - 1]!;
    await asAttacker(world.url, (db) => db.query('delete from audit_logs where org_id is not distinct from $1::uuid and chain_seq >= $2', [chain, String(cut.seq)]));

    const report = await verifyJson(world);
    const tail = report.breaks.filter((b) => b.kind === 'tail_truncated');
    expect(tail.map(where), show(report.breaks)).toEqual([{ kind: 'tail_truncated', chain_seq: String(lastCheckpoint), row_id: null }]);
    expect(tail[0]!.found).toBe(String(survivor.seq));
    expect(report.breaks.some((b) => b.kind === 'head_mismatch'), show(report.breaks)).toBe(true);
    expectOnly(report.breaks, chain, ['tail_truncated', 'head_mismatch']);

    const sql = await sqlVerify(world.pool, chain);
    expect(sql.length).toBeGreaterThan(0);
    expect(sql.every((b) => b.kind === 'head_mismatch'), show(sql)).toBe(true);
  });

  test('the tail deleted and the chain state rewritten to match: only the checkpoints catch it (tail_truncated, and the state below the checkpoint: head_mismatch)', async () => {
    const world = await buildWorld();
    const chain = pick(random, world.chains);
    const rows = await chainRows(world.pool, chain);
    const lastCheckpoint = (await checkpointSeqs(world.pool, chain)).at(-1)!;
    const cut = pick(random, sealedRows(rows).filter((row, i) => i > 0 && row.seq <= lastCheckpoint));
    const survivors = rows.slice(0, rows.indexOf(cut));
    const head = survivors.at(-1)!;
    await asAttacker(world.url, async (db) => {
      await db.query('delete from audit_logs where org_id is not distinct from $1::uuid and chain_seq >= $2', [chain, String(cut.seq)]);
      await db.query('update audit_chain_state set watermark_seq = $2, head_checksum = $3, sealed_count = $4 where org_id is not distinct from $1::uuid', [
        chain,
        String(head.seq),
        head.checksum,
        survivors.length,
      ]);
    });

    const report = await verifyJson(world);
    expect(report.breaks.map(where), show(report.breaks)).toEqual([
      { kind: 'tail_truncated', chain_seq: String(lastCheckpoint), row_id: null },
      { kind: 'head_mismatch', chain_seq: String(head.seq), row_id: null },
    ]);
    expect(report.breaks[0]!.org_id).toBe(chain);
    expect(report.breaks[1]).toMatchObject({ org_id: chain, expected: String(lastCheckpoint), found: String(head.seq) });
    expect(await sqlVerify(world.pool, chain)).toEqual([]);
  });

  test('a whole chain deleted with its state: its checkpoints still name it (tail_truncated, head_mismatch)', async () => {
    const world = await buildWorld();
    const chain = pick(random, world.orgs);
    const lastCheckpoint = (await checkpointSeqs(world.pool, chain)).at(-1)!;
    await asAttacker(world.url, async (db) => {
      await db.query('delete from audit_logs where org_id = $1::uuid', [chain]);
      await db.query('delete from audit_chain_state where org_id = $1::uuid', [chain]);
    });
    const report = await verifyJson(world);
    expect(report.breaks.map(where).sort((a, b) => a.kind.localeCompare(b.kind)), show(report.breaks)).toEqual([
      { kind: 'head_mismatch', chain_seq: String(lastCheckpoint), row_id: null },
      { kind: 'tail_truncated', chain_seq: String(lastCheckpoint), row_id: null },
    ]);
    expectOnly(report.breaks, chain, ['head_mismatch', 'tail_truncated']);
  });

  test('a forged row with valid links inserted in the middle: link_broken at the row after it; SQL names the fork', async () => {
    const world = await buildWorld();
    const { chain, before, after, seq } = await forgeryPosition(world);
    const forged = randomUUID();
    const forgedChecksum = await asAttacker(world.url, async (db) => {
      // The no-fork index would refuse a second row after `before`: the attacker drops it.
      await db.query('drop index audit_logs_chain_link_unique');
      await insertForged(db, forged, chain, seq);
      return recomputeLinks(db, forged, before.checksum!);
    });

    const report = await verifyJson(world);
    const links = report.breaks.filter((b) => b.kind === 'link_broken');
    expect(links.map(where), show(report.breaks)).toEqual([{ kind: 'link_broken', chain_seq: String(after.seq), row_id: after.id }]);
    expect(links[0]!.expected).toBe(forgedChecksum);
    expect(links[0]!.found).toBe(before.checksum);
    expectOnly(report.breaks, chain, ['link_broken', 'head_mismatch', 'checkpoint_mismatch']);

    const sql = await sqlVerify(world.pool, chain);
    const sqlLinks = sql.filter((b) => b.kind === 'link_broken');
    expect(sqlLinks.map(where), show(sql)).toEqual([{ kind: 'link_broken', chain_seq: String(after.seq), row_id: after.id }]);
    expect(sqlLinks[0]!.detail).toContain(`row ${forged} (chain_seq ${seq}) has the same predecessor: the chain forks`);
    expect(sql.filter((b) => b.kind !== 'link_broken').every((b) => b.kind === 'head_mismatch'), show(sql)).toBe(true);
  });

  test('a forged row inserted and its successor relinked to it: content_changed at the successor; SQL sees only the count', async () => {
    const world = await buildWorld();
    const { chain, before, after, seq } = await forgeryPosition(world);
    const forged = randomUUID();
    await asAttacker(world.url, async (db) => {
      await insertForged(db, forged, chain, seq);
      const links = await computeLinks(db, forged, before.checksum!);
      await db.query('update audit_logs set prev_checksum = $2 where id = $1::uuid', [after.id, links.checksum]);
      await writeLinks(db, forged, links);
    });

    const report = await verifyJson(world);
    const changed = report.breaks.filter((b) => b.kind !== 'head_mismatch' && b.kind !== 'checkpoint_mismatch');
    expect(changed.map(where), show(report.breaks)).toEqual([{ kind: 'content_changed', chain_seq: String(after.seq), row_id: after.id }]);
    expectOnly(report.breaks, chain, ['content_changed', 'head_mismatch', 'checkpoint_mismatch']);
    const sql = await sqlVerify(world.pool, chain);
    expect(sql.map((b) => b.kind), show(sql)).toEqual(['head_mismatch']);
    expect(sql[0]!.found).toBe(String(BigInt(sql[0]!.expected!) + 1n));
  });

  test('history rewritten with every link recomputed and the state updated: only checkpoint_mismatch, at every checkpoint after the edit', async () => {
    const world = await buildWorld();
    const chain = pick(random, world.chains);
    const rows = sealedRows(await chainRows(world.pool, chain));
    const checkpoints = await checkpointSeqs(world.pool, chain);
    const edited = pick(random, rows.filter((row) => row.seq <= checkpoints.at(-1)!));
    const original = new Map(rows.map((row) => [row.seq, row.checksum]));
    const rewritten = await asAttacker(world.url, async (db) => {
      await db.query(`update audit_logs set details = '{"rewritten": true}' where id = $1::uuid`, [edited.id]);
      const checksums = new Map<bigint, string>();
      let prev = edited.prev!;
      for (const row of rows.slice(rows.indexOf(edited))) {
        prev = await recomputeLinks(db, row.id, prev);
        checksums.set(row.seq, prev);
      }
      await db.query('update audit_chain_state set head_checksum = $2 where org_id is not distinct from $1::uuid', [chain, prev]);
      return checksums;
    });

    const covered = checkpoints.filter((seq) => seq >= edited.seq);
    const report = await verifyJson(world);
    expect(report.breaks.map(where), show(report.breaks)).toEqual(
      covered.map((seq) => ({ kind: 'checkpoint_mismatch', chain_seq: String(seq), row_id: rows.find((row) => row.seq === seq)!.id })),
    );
    expect(report.breaks.map((b) => [b.expected, b.found])).toEqual(covered.map((seq) => [original.get(seq), rewritten.get(seq)]));
    expect(await sqlVerify(world.pool, chain)).toEqual([]);

    // From the latest checkpoint the first row after it no longer links to the signed head.
    const afterLast = rows.find((row) => row.seq > checkpoints.at(-1)!)!;
    const fromCheckpoint = await verifyJson(world, ['--from-checkpoint']);
    expect(fromCheckpoint.breaks.map(where), show(fromCheckpoint.breaks)).toEqual([{ kind: 'link_broken', chain_seq: String(afterLast.seq), row_id: afterLast.id }]);
    expect(fromCheckpoint.breaks[0]!.expected).toBe(original.get(checkpoints.at(-1)!));
  });

  test('a row moved to another organization: moved_org where it landed, link_broken where it left, in SQL link_broken in both', async () => {
    const world = await buildWorld();
    const from = pick(random, world.chains);
    const to = pick(random, world.chains.filter((chain) => chain !== from));
    const target = sealedRows(await chainRows(world.pool, to));
    const source = sealedRows(await chainRows(world.pool, from));
    const candidates = source.slice(0, -1).filter((row) => row.seq > target[0]!.seq && row.seq < target.at(-1)!.seq);
    const moved = pick(random, candidates);
    const next = source[source.indexOf(moved) + 1]!;
    await asAttacker(world.url, (db) => db.query('update audit_logs set org_id = $2::uuid where id = $1::uuid', [moved.id, to]));

    const report = await verifyJson(world);
    const landed = report.breaks.filter((b) => b.org_id === to);
    expect(landed.map(where), show(report.breaks)).toEqual([{ kind: 'moved_org', chain_seq: String(moved.seq), row_id: moved.id }]);
    expect([landed[0]!.expected, landed[0]!.found]).toEqual([from, to]);
    const left = report.breaks.filter((b) => b.org_id === from);
    expect(left.filter((b) => b.kind === 'link_broken').map(where), show(report.breaks)).toEqual([{ kind: 'link_broken', chain_seq: String(next.seq), row_id: next.id }]);
    expectOnly(left, from, ['link_broken', 'head_mismatch', 'checkpoint_mismatch']);

    // SQL cannot tell a moved row from an inserted one: the links break around it.
    const sqlTo = await sqlVerify(world.pool, to);
    expect(sqlTo.map(where)[0], show(sqlTo)).toEqual({ kind: 'link_broken', chain_seq: String(moved.seq), row_id: moved.id });
    expect(sqlTo.every((b) => b.kind === 'link_broken' || b.kind === 'head_mismatch'), show(sqlTo)).toBe(true);
    const sqlFrom = await sqlVerify(world.pool, from);
    expect(sqlFrom.filter((b) => b.kind === 'link_broken').map(where)).toEqual([{ kind: 'link_broken', chain_seq: String(next.seq), row_id: next.id }]);
  });
});

describe('tampering with checkpoints', () => {
  test('an exported checkpoint edited: checkpoint_signature_invalid naming the file and line, and nothing else', async () => {
    const world = await buildWorld();
    const [file] = readdirSync(world.checkpointDir);
    const path = join(world.checkpointDir, file!);
    const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    const index = Math.floor(random() * lines.length);
    const edited = JSON.parse(lines[index]!) as { sealed_count: string; chain_seq: string; org_id: string | null };
    edited.sealed_count = String(BigInt(edited.sealed_count) + 1n);
    lines[index] = JSON.stringify(edited);
    writeFileSync(path, `${lines.join('\n')}\n`);

    for (const extra of [[], ['--no-db-checkpoints']]) {
      const report = await verifyJson(world, extra);
      expect(report.breaks.map(where), show(report.breaks)).toEqual([{ kind: 'checkpoint_signature_invalid', chain_seq: edited.chain_seq, row_id: null }]);
      expect(report.breaks[0]!.org_id).toBe(edited.org_id);
      expect(report.breaks[0]!.source).toBe(`${path}:${index + 1}`);
    }
  });

  test('the database copy of a checkpoint edited: checkpoint_signature_invalid naming the row', async () => {
    const world = await buildWorld();
    const { rows } = await world.pool.query<{ id: string; chain_seq: string }>('select id::text, chain_seq::text from audit_chain_checkpoints order by id');
    const victim = pick(random, rows);
    await asAttacker(world.url, (client) => client.query(`update audit_chain_checkpoints set body = jsonb_set(body, '{checksum}', to_jsonb(repeat('f', 64))) where id = $1::bigint`, [victim.id]));
    const report = await verifyJson(world);
    expect(report.breaks.map(where), show(report.breaks)).toEqual([{ kind: 'checkpoint_signature_invalid', chain_seq: victim.chain_seq, row_id: null }]);
    expect(report.breaks[0]!.source).toBe(`audit_chain_checkpoints id ${victim.id}`);
  });

  test('checkpoints signed by a key not in the keyring (or claiming a known key id): rejected, never trusted', async () => {
    const world = await buildWorld();
    const chain = pick(random, world.chains);
    const head = sealedRows(await chainRows(world.pool, chain)).at(-1)!;
    const forgedHead = { org_id: chain, chain_seq: String(head.seq), sealed_count: '1', checksum: 'f'.repeat(64), signed_at: new Date().toISOString() };
    const stranger = newKey('attacker-key');
    const impostor = newKey(world.key.keyId);
    const [file] = readdirSync(world.checkpointDir);
    appendFileSync(join(world.checkpointDir, file!), `${checkpointLine(await signCheckpoint(forgedHead, stranger.signer))}\n`);
    appendFileSync(join(world.checkpointDir, file!), `${checkpointLine(await signCheckpoint(forgedHead, impostor.signer))}\n`);

    const report = await verifyJson(world);
    expect(report.breaks.map(where), show(report.breaks)).toEqual([
      { kind: 'checkpoint_key_unknown', chain_seq: String(head.seq), row_id: null },
      { kind: 'checkpoint_signature_invalid', chain_seq: String(head.seq), row_id: null },
    ]);
    expect(report.breaks[0]!.found).toBe('attacker-key');
    // The forged head (checksum ffff...) was compared with nothing: no checkpoint_mismatch.
    expect(report.breaks_by_kind).toEqual({ checkpoint_key_unknown: 1, checkpoint_signature_invalid: 1 });
  });
});

/** A sealed row `before` with a sealed successor `after` and an unused chain_seq between them. */
async function forgeryPosition(world: World): Promise<{ chain: string | null; before: ChainRow; after: ChainRow; seq: string }> {
  const used = new Set((await world.pool.query<{ chain_seq: string }>('select chain_seq::text from audit_logs')).rows.map((row) => row.chain_seq));
  const options: { chain: string | null; before: ChainRow; after: ChainRow; seq: string }[] = [];
  for (const chain of world.chains) {
    const rows = sealedRows(await chainRows(world.pool, chain));
    for (let i = 0; i + 1 < rows.length; i += 1) {
      for (let seq = rows[i]!.seq + 1n; seq < rows[i + 1]!.seq; seq += 1n) {
        if (!used.has(String(seq))) {
          options.push({ chain, before: rows[i]!, after: rows[i + 1]!, seq: String(seq) });
          break;
        }
      }
    }
  }
  return pick(random, options);
}

async function insertForged(db: import('pg').Client, id: string, chain: string | null, seq: string): Promise<void> {
  await db.query(
    `insert into audit_logs (id, org_id, chain_seq, actor_type, actor_id, action, resource_type, resource_id, details)
     overriding system value
     values ($1::uuid, $2::uuid, $3::bigint, 'user', 'u-forged', 'admin.grant', 'role', 'owner', '{"forged": true}')`,
    [id, chain, seq],
  );
}
