// No false alarms: chains written by many concurrent writers (with rollbacks),
// sealed and checkpointed while they write, verify with zero breaks, both while
// all of that is still going on and at the end; the run is recorded.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, inject, test } from 'vitest';
import { sealOnce } from '@audit-chain/sealing';
import { DirectoryCheckpointSink, runCheckpointRound } from '@audit-chain/verification';
import { newOrgId } from '../support/audit-rows.ts';
import { withAdmin } from '../support/database.ts';
import {
  asAttacker,
  buildWorld,
  chainRows,
  newKey,
  runCli,
  scratch,
  sealAll,
  show,
  signHeads,
  sqlVerify,
  verifyJson,
  writeConcurrently,
  writeKeyring,
  type World,
} from './support.ts';

describe('clean chains under concurrency', () => {
  test('writers, sealing, checkpoint rounds and verify all at once: zero breaks, then and at the end', async () => {
    const db = await scratch();
    const key = newKey('clean-test-key');
    const checkpointDir = join(db.dir, 'checkpoints');
    const keyringFile = writeKeyring(db.dir, 'keyring.json', [{ keyId: key.keyId, publicKey: key.publicPem, validFrom: '2000-01-01T00:00:00Z' }]);
    const chains = [newOrgId(), newOrgId(), newOrgId(), newOrgId(), null];
    const world: World = { ...db, checkpointDir, keyringFile, key, orgs: chains.filter((c): c is string => c !== null), chains };

    let writing = true;
    const writers = (async () => {
      for (let round = 0; round < 10; round += 1) await writeConcurrently(db.pool, chains, 40, 8);
      writing = false;
    })();
    const sealer = (async () => {
      while (writing) await sealOnce(db.pool, { batchSize: 100, waitMs: 200, pollMs: 10 });
    })();
    const signer = (async () => {
      const sinks = [new DirectoryCheckpointSink(checkpointDir)];
      while (writing) await runCheckpointRound(db.pool, { signer: key.signer, sinks, policy: { everyRows: 25, intervalMs: 100 } });
    })();
    const during: Awaited<ReturnType<typeof verifyJson>>[] = [];
    while (writing) during.push(await verifyJson(world));
    await Promise.all([writers, sealer, signer]);

    expect(during.length).toBeGreaterThan(0);
    for (const report of during) expect(report.breaks, show(report.breaks)).toEqual([]);
    expect(during.some((report) => report.totals.sealed > 0)).toBe(true);

    await sealAll(db.pool);
    await signHeads(db.pool, key, checkpointDir);
    const final = await verifyJson(world);
    expect(final.breaks, show(final.breaks)).toEqual([]);
    expect(final.totals).toMatchObject({ chains: 5, rows: 5 * 10 * 40, sealed: 5 * 10 * 40, pending: 0 });
    for (const chain of chains) expect(await sqlVerify(db.pool, chain)).toEqual([]);

    const checkpoints = await db.pool.query<{ n: number }>('select count(*)::int as n from audit_chain_checkpoints');
    expect(checkpoints.rows[0]!.n).toBeGreaterThan(chains.length);
  });

  test('recorded runs: the run and each chain\'s status, clean and with a break; a read-only role verifies without recording', async () => {
    const world = await buildWorld({ rows: 10 });
    const env = { DATABASE_URL: world.url, AUDIT_CHAIN_DATA_DIR: world.dir };
    const args = ['verify', '--json', '--keyring', world.keyringFile, '--checkpoints', world.checkpointDir];
    const clean = await runCli(args, env);
    expect(clean.code, clean.stderr).toBe(0);
    const cleanId = (JSON.parse(clean.stdout) as { verification_id: string }).verification_id;
    const runs = await world.pool.query('select trigger, scope, status, chains_checked, rows_checked::int, breaks_found, breaks from audit_chain_verifications where id = $1', [cleanId]);
    expect(runs.rows).toEqual([{ trigger: 'cli', scope: null, status: 'clean', chains_checked: 4, rows_checked: 4 * 30, breaks_found: 0, breaks: [] }]);

    const victim = (await chainRows(world.pool, world.orgs[1]!)).find((row) => row.sealed)!;
    await asAttacker(world.url, (db) => db.query(`update audit_logs set result = 'failure' where id = $1::uuid`, [victim.id]));
    const broken = await runCli(args, env);
    expect(broken.code, broken.stderr).toBe(1);
    const brokenId = (JSON.parse(broken.stdout) as { verification_id: string }).verification_id;
    const run = (await world.pool.query('select status, breaks_found, breaks from audit_chain_verifications where id = $1', [brokenId])).rows[0];
    expect(run).toMatchObject({ status: 'breaks', breaks_found: 1, breaks: [{ kind: 'content_changed', org_id: world.orgs[1], chain_seq: String(victim.seq), row_id: victim.id }] });
    const status = await world.pool.query<{ org_id: string | null; verification_id: string; breaks_found: number; first_break: { kind: string } | null }>(
      'select org_id::text, verification_id::text, breaks_found, first_break from audit_chain_verify_status',
    );
    expect(status.rows).toHaveLength(4);
    for (const row of status.rows) {
      expect(row.verification_id).toBe(brokenId);
      expect([row.breaks_found, row.first_break?.kind ?? null]).toEqual(row.org_id === world.orgs[1] ? [1, 'content_changed'] : [0, null]);
    }

    // The admin role reads everything and writes nothing: verify still runs, and says it did not record.
    const role = `audit_chain_test_reader_${randomBytes(4).toString('hex')}`;
    await withAdmin(inject('serverUrl'), async (admin) => {
      await admin.query(`create role ${role} login`);
      const adminRole = (await world.pool.query<{ role_name: string }>("select role_name from audit_chain_roles where kind = 'admin'")).rows[0]!.role_name;
      await admin.query(`grant ${adminRole} to ${role}`);
    });
    try {
      const url = new URL(world.url);
      url.username = role;
      const readOnly = await runCli(args, { ...env, DATABASE_URL: url.toString() });
      expect(readOnly.code, readOnly.stderr).toBe(1);
      expect(readOnly.stderr).toMatch(/not recording this run in audit_chain_verifications: permission denied/);
      expect((JSON.parse(readOnly.stdout) as { verification_id: string | null }).verification_id).toBeNull();
    } finally {
      await withAdmin(inject('serverUrl'), async (admin) => {
        await admin.query(`drop owned by ${role}`).catch(() => {});
        await admin.query(`drop role if exists ${role}`).catch(() => {});
      });
    }
  });
});
