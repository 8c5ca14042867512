// Retention deletes a chain's oldest rows only up to a signed, exported
// checkpoint (drizzle/0015_retention_cuts.sql). Verification then starts from
// that checkpoint; a cut no trusted checkpoint confirms, or a prefix deleted
// without any cut, is reported.
import { describe, expect, test } from 'vitest';
import { asAttacker, buildWorld, chainRows, newKey, show, verifyJson, writeKeyring } from './support.ts';

describe('verification after retention', () => {
  test('rows cut at a signed checkpoint: clean, verified from the cut; an unconfirmed cut and a prefix deleted without one are breaks', async () => {
    const world = await buildWorld({ rows: 10 });
    const [retained, truncated] = world.orgs;
    const checkpoint = (
      await world.pool.query<{ id: string; chain_seq: string }>(
        'select id::text, chain_seq::text from audit_chain_checkpoints where org_id = $1::uuid order by chain_seq limit 1',
        [retained],
      )
    ).rows[0]!;
    const deleted = await world.pool.query<{ n: string }>(`select audit_chain_retain_prefix($1::bigint, now() + interval '1 day')::text as n`, [checkpoint.id]);
    expect(Number(deleted.rows[0]!.n)).toBeGreaterThan(0);

    const clean = await verifyJson(world);
    expect(clean.breaks, show(clean.breaks)).toEqual([]);
    const chains = (clean as unknown as { chains: { org_id: string | null; started_after: string | null }[] }).chains;
    expect(chains.find((chain) => chain.org_id === retained)!.started_after).toBe(checkpoint.chain_seq);

    // A keyring that does not trust the cut's checkpoint: the cut is not vouched for.
    const stranger = newKey('someone-else');
    const wrongKeys = writeKeyring(world.dir, 'wrong.json', [{ keyId: stranger.keyId, publicKey: stranger.publicPem, validFrom: '2000-01-01T00:00:00Z' }]);
    const unconfirmed = await verifyJson({ ...world, keyringFile: wrongKeys });
    expect(unconfirmed.breaks.filter((b) => b.kind !== 'checkpoint_key_unknown').map((b) => [b.kind, b.org_id, b.chain_seq]), show(unconfirmed.breaks)).toEqual([
      ['checkpoint_mismatch', retained, checkpoint.chain_seq],
    ]);

    // Without a cut, a missing prefix is a missing prefix.
    const rows = await chainRows(world.pool, truncated!);
    const firstKept = rows[3]!;
    await asAttacker(world.url, (db) => db.query('delete from audit_logs where org_id = $1::uuid and chain_seq < $2', [truncated, String(firstKept.seq)]));
    const report = await verifyJson(world);
    const links = report.breaks.filter((b) => b.kind === 'link_broken');
    expect(links.map((b) => [b.org_id, b.chain_seq, b.row_id]), show(report.breaks)).toEqual([[truncated, String(firstKept.seq), firstKept.id]]);
    expect(links[0]!.message).toMatch(/first row must link to the genesis value/);
    expect(report.breaks.every((b) => b.org_id === truncated), show(report.breaks)).toBe(true);
  });
});
