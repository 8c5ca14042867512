// Threat model, "the database cannot steer the verifier" (docs/threat-model.md):
// an attacker who can write every table (a superuser, every trigger off) tries
// the three ways found to make `audit-chain verify` trust the database, and
// the verifier reports each with the exact break and a non-zero exit.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { asAttacker, buildWorld, chainRows, checkpointSeqs, runCli, show, verifyJson, type JsonReport, type World } from './support.ts';

/** A chain's rows up to and including chain_seq `seq`. */
async function positionOf(world: World, orgId: string, seq: bigint): Promise<number> {
  return (await chainRows(world.pool, orgId)).filter((row) => row.seq <= seq).length;
}

async function verifyWithoutKeyring(world: World, extra: string[] = []): Promise<JsonReport & { code: number | null }> {
  const run = await runCli(['verify', '--json', '--no-record', ...extra], { DATABASE_URL: world.url, AUDIT_CHAIN_DATA_DIR: world.dir });
  return { ...(JSON.parse(run.stdout) as JsonReport), code: run.code };
}

describe('the verifier does not trust the database it checks', () => {
  test('a watermark lowered below the latest trusted checkpoint (head and count made consistent) with a row edited between them: head_mismatch and content_changed, exit 1', async () => {
    const world = await buildWorld({ rows: 12 });
    const org = world.orgs[0]!;
    const checkpoint = (await checkpointSeqs(world.pool, org)).at(-1)!;
    const sealed = (await chainRows(world.pool, org)).filter((row) => row.sealed && row.seq <= checkpoint);
    const lowered = sealed[sealed.length - 8]!;
    const edited = sealed[sealed.length - 3]!;
    const count = await positionOf(world, org, lowered.seq);
    await asAttacker(world.url, async (client) => {
      await client.query('update audit_chain_state set watermark_seq = $2, head_checksum = $3, sealed_count = $4 where org_id = $1', [org, lowered.seq.toString(), lowered.checksum, count]);
      await client.query(`update audit_logs set action = 'doc.deleted' where id = $1`, [edited.id]);
    });

    const report = await verifyJson(world);
    expect(report.code).toBe(1);
    const mine = report.breaks.filter((b) => b.org_id === org);
    expect(mine, show(mine)).toContainEqual(expect.objectContaining({ kind: 'content_changed', chain_seq: edited.seq.toString(), row_id: edited.id }));
    expect(mine, show(mine)).toContainEqual(expect.objectContaining({ kind: 'head_mismatch', expected: checkpoint.toString(), found: lowered.seq.toString() }));

    // Without the keyring the edit is still found: linked rows above the watermark are checked.
    const bare = await verifyWithoutKeyring(world, ['--org', org]);
    expect(bare.code).toBe(1);
    expect(bare.breaks, show(bare.breaks)).toContainEqual(expect.objectContaining({ kind: 'content_changed', chain_seq: edited.seq.toString() }));
    expect(bare.breaks, show(bare.breaks)).toContainEqual(expect.objectContaining({ kind: 'head_mismatch', chain_seq: (sealed.find((row) => row.seq > lowered.seq)!.seq).toString() }));
  });

  test('a deleted chain state row with a sealed row edited: the chain is found from its rows and the edit reported, with and without --org, exit 1', async () => {
    const world = await buildWorld({ rows: 12 });
    const org = world.orgs[1]!;
    const rows = (await chainRows(world.pool, org)).filter((row) => row.sealed);
    const edited = rows[4]!;
    await asAttacker(world.url, async (client) => {
      await client.query('delete from audit_chain_state where org_id = $1', [org]);
      await client.query(`update audit_logs set result = 'failure' where id = $1`, [edited.id]);
    });
    for (const extra of [[], ['--org', org]]) {
      const report = await verifyWithoutKeyring(world, extra);
      expect(report.code, `verify ${extra.join(' ')}`).toBe(1);
      const mine = report.breaks.filter((b) => b.org_id === org);
      expect(mine, show(mine)).toContainEqual(expect.objectContaining({ kind: 'content_changed', chain_seq: edited.seq.toString(), row_id: edited.id }));
      expect(mine, show(mine)).toContainEqual(expect.objectContaining({ kind: 'head_mismatch', chain_seq: rows[0]!.seq.toString(), expected: '0' }));
    }
    const withKeys = await verifyJson(world);
    expect(withKeys.breaks.filter((b) => b.org_id === org), show(withKeys.breaks)).toContainEqual(expect.objectContaining({ kind: 'content_changed', chain_seq: edited.seq.toString() }));
  });

  test.each([
    ['uppercased', (org: string) => org.toUpperCase()],
    ['not a uuid', () => 'not-a-uuid'],
    ['a number', () => 42],
  ])('a checkpoint line whose org_id was altered (%s) is checkpoint_signature_invalid, exit 1', async (_name, alter) => {
    const world = await buildWorld({ rows: 6 });
    const org = world.orgs[2]!;
    const file = join(world.checkpointDir, readdirSync(world.checkpointDir).sort()[0]!);
    const lines = readFileSync(file, 'utf8').split('\n');
    const index = lines.findIndex((line) => line.includes(`"org_id":"${org}"`));
    expect(index).toBeGreaterThanOrEqual(0);
    const altered = JSON.stringify(alter(org));
    lines[index] = lines[index]!.replace(`"org_id":"${org}"`, `"org_id":${altered}`);
    writeFileSync(file, lines.join('\n'));

    const report = await verifyJson(world);
    expect(report.code).toBe(1);
    expect(report.breaks_by_kind, show(report.breaks)).toEqual({ checkpoint_signature_invalid: 1 });
    expect(report.breaks[0]).toMatchObject({ kind: 'checkpoint_signature_invalid', source: expect.stringContaining(`${file}:${index + 1}`) });
  });
});
