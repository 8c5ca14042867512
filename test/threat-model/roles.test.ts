// Threat model (docs/threat-model.md), one test per "cannot" of the database's
// roles, each tried as the attacker would: connect as the role and do it. Every
// refusal asserts its SQLSTATE and that nothing changed or was deleted. Times are
// fixed instants (rows recorded in 2020, cuts older than 2021), never today.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signCheckpoint } from '@audit-chain/chain';
import { LifecycleError, retainChains } from '@audit-chain/lifecycle';
import { sealOnce } from '@audit-chain/sealing';
import { DirectoryCheckpointSink, generateSigningKeyPair, loadSigningKey, runCheckpointRound } from '@audit-chain/verification';
import { createTestDatabase } from '../support/database.ts';
import { newOrgId } from '../support/audit-rows.ts';
import { connectAs, expectSqlState, rowSnapshot } from '../db/helpers.ts';

const db = await createTestDatabase();
const roleRows = (await db.pool.query<{ kind: string; role_name: string }>('select kind, role_name from audit_chain_roles')).rows;
const role = Object.fromEntries(roleRows.map((row) => [row.kind, row.role_name])) as Record<'writer' | 'sealer' | 'admin' | 'retention' | 'redactor' | 'signer', string>;
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-threat-'));
const pair = generateSigningKeyPair('threat-model-1', new Date('2019-01-01T00:00:00Z'));
const signer = loadSigningKey({ pem: pair.privatePem, keyId: pair.keyId })!;
const keyring = [pair.keyringEntry];
const sink = new DirectoryCheckpointSink(dir);
const RECORDED = '2020-01-01T00:00:00Z';
const OLDER_THAN = new Date('2021-01-01T00:00:00Z');
const SIGNED_AT = new Date('2020-06-01T00:00:00Z');
const org = newOrgId();

const clients: pg.Client[] = [];
async function as(kind: keyof typeof role): Promise<pg.Client> {
  const client = await connectAs(db.url, role[kind]);
  clients.push(client);
  return client;
}

interface SealedRow {
  id: string;
  chain_seq: string;
  checksum: string;
}

async function sealedRows(): Promise<SealedRow[]> {
  return (
    await db.pool.query<SealedRow>(
      `select a.id::text, a.chain_seq::text, a.checksum from audit_logs a join audit_chain_state s on s.org_id = a.org_id
        where a.org_id = $1 and a.chain_seq <= s.watermark_seq order by a.chain_seq`,
      [org],
    )
  ).rows;
}

async function count(): Promise<number> {
  return (await db.pool.query<{ n: number }>('select count(*)::int as n from audit_logs where org_id = $1', [org])).rows[0]!.n;
}

async function checkpointsSnapshot(): Promise<unknown[]> {
  return (await db.pool.query('select to_jsonb(c) as row from audit_chain_checkpoints c order by id')).rows;
}

beforeAll(async () => {
  await db.pool.query(
    `insert into audit_logs (org_id, actor_type, actor_email, action, ip_address, recorded_at)
     select $1, 'user', 'u' || g || '@example.com', 'doc.read', '192.0.2.7', $2::timestamptz + make_interval(mins => g) from generate_series(1, 12) g`,
    [org, RECORDED],
  );
  expect((await sealOnce(db.pool, { batchSize: 100, waitMs: 5000, pollMs: 20 })).broken).toEqual([]);
  const round = await runCheckpointRound(db.pool, { signer, sinks: [sink], policy: 'requested', waitForLock: true, now: () => SIGNED_AT });
  expect(round.signed).toHaveLength(1);
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.end()));
  rmSync(dir, { recursive: true, force: true });
});

describe('the writer role (the application)', () => {
  test('cannot set recorded_at: 42501, nothing inserted', async () => {
    const writer = await as('writer');
    const before = await count();
    await expectSqlState(
      writer.query(`insert into audit_logs (org_id, actor_type, action, recorded_at) values ($1, 'user', 'backdated', '2000-01-01T00:00:00Z')`, [org]),
      '42501',
      /permission denied/,
    );
    expect(await count()).toBe(before);
  });

  test('gets the server\'s recorded_at when it leaves it out', async () => {
    const writer = await as('writer');
    const row = (await writer.query<{ fresh: boolean }>(`insert into audit_logs (org_id, actor_type, action) values (null, 'user', 'fresh') returning recorded_at = now() as fresh`)).rows[0]!;
    expect(row.fresh).toBe(true);
  });

  test('cannot add, change or remove a checkpoint: 42501', async () => {
    const writer = await as('writer');
    const before = await checkpointsSnapshot();
    await expectSqlState(writer.query(`insert into audit_chain_checkpoints (org_id, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body) values ($1, 1, 1, 'x', now(), 'k', 's', '{}')`, [org]), '42501');
    await expectSqlState(writer.query('update audit_chain_checkpoints set chain_seq = chain_seq'), '42501');
    await expectSqlState(writer.query('delete from audit_chain_checkpoints'), '42501');
    expect(await checkpointsSnapshot()).toEqual(before);
  });
});

describe('the sealer role (the worker)', () => {
  test.each([
    ['checksum', `repeat('a', 64)`],
    ['prev_checksum', `repeat('b', 64)`],
    ['pii_salt', `repeat('c', 32)`],
    ['pii_salt', 'null'],
    ['pii_digest', `repeat('d', 64)`],
    ['checksum_version', 'checksum_version + 1'],
  ])('cannot rewrite %s of a sealed row (to %s): AC021, the row unchanged', async (column, value) => {
    const sealer = await as('sealer');
    const row = (await sealedRows())[3]!;
    const before = await rowSnapshot(db.pool, row.id);
    await expectSqlState(sealer.query(`update audit_logs set ${column} = ${value} where id = $1`, [row.id]), 'AC021', /sealed row/);
    expect(await rowSnapshot(db.pool, row.id)).toEqual(before);
  });

  test('nor can the table owner with a plain UPDATE: AC021', async () => {
    const row = (await sealedRows())[0]!;
    const before = await rowSnapshot(db.pool, row.id);
    await expectSqlState(db.pool.query(`update audit_logs set checksum = repeat('e', 64) where id = $1`, [row.id]), 'AC021');
    expect(await rowSnapshot(db.pool, row.id)).toEqual(before);
  });

  test('may still clear chain values slipped into a pending row (above the watermark)', async () => {
    const pending = (await db.pool.query<{ id: string }>(`insert into audit_logs (org_id, actor_type, action) values ($1, 'user', 'pending') returning id::text`, [org])).rows[0]!;
    await db.pool.query(`update audit_logs set prev_checksum = repeat('9', 64), checksum = repeat('f', 64), checksum_version = 1 where id = $1`, [pending.id]);
    const sealer = await as('sealer');
    await sealer.query('update audit_logs set prev_checksum = null, checksum = null, checksum_version = null where id = $1', [pending.id]);
    expect((await db.pool.query('select checksum from audit_logs where id = $1', [pending.id])).rows[0]).toEqual({ checksum: null });
  });

  test('cannot insert, move or delete a checkpoint: 42501, checkpoints unchanged', async () => {
    const sealer = await as('sealer');
    const row = (await sealedRows())[4]!;
    const before = await checkpointsSnapshot();
    await expectSqlState(
      sealer.query(`insert into audit_chain_checkpoints (org_id, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body) values ($1, $2, 5, $3, now(), 'bogus-key', 'not-a-signature', '{}')`, [org, row.chain_seq, row.checksum]),
      '42501',
    );
    await expectSqlState(sealer.query('update audit_chain_checkpoints set chain_seq = $1', [row.chain_seq]), '42501');
    await expectSqlState(sealer.query(`update audit_chain_checkpoints set exported_to = '{}'`), '42501');
    await expectSqlState(sealer.query('delete from audit_chain_checkpoints'), '42501');
    expect(await checkpointsSnapshot()).toEqual(before);
  });
});

describe('checkpoints are append-only for every role, the owner included', () => {
  test('the owner cannot change a signed checkpoint, move it to another row, or remove it: AC020', async () => {
    const id = (await db.pool.query<{ id: string }>('select id::text from audit_chain_checkpoints order by id limit 1')).rows[0]!.id;
    const row = (await sealedRows())[2]!;
    const before = await checkpointsSnapshot();
    await expectSqlState(db.pool.query('update audit_chain_checkpoints set chain_seq = $2, checksum = $3 where id = $1', [id, row.chain_seq, row.checksum]), 'AC020', /append-only/);
    await expectSqlState(db.pool.query(`update audit_chain_checkpoints set body = jsonb_set(body, '{checksum}', to_jsonb(repeat('f', 64))) where id = $1`, [id]), 'AC020');
    await expectSqlState(db.pool.query(`update audit_chain_checkpoints set exported_to = '{}' where id = $1`, [id]), 'AC020');
    await expectSqlState(db.pool.query('delete from audit_chain_checkpoints where id = $1', [id]), 'AC020');
    await expectSqlState(db.pool.query('truncate audit_chain_checkpoints'), 'AC020');
    expect(await checkpointsSnapshot()).toEqual(before);
  });

  test('the signer may only move exported_to forward (a sink added), and change nothing else: 42501 for other columns', async () => {
    const signerClient = await as('signer');
    const id = (await db.pool.query<{ id: string }>('select id::text from audit_chain_checkpoints order by id limit 1')).rows[0]!.id;
    await signerClient.query(`update audit_chain_checkpoints set exported_to = exported_to || '{"webhook": null}' where id = $1`, [id]);
    await signerClient.query(`update audit_chain_checkpoints set exported_to = exported_to || '{"webhook": "2020-06-01T00:00:01.000Z"}' where id = $1`, [id]);
    await expectSqlState(signerClient.query(`update audit_chain_checkpoints set exported_to = exported_to || '{"webhook": null}' where id = $1`, [id]), 'AC020');
    await expectSqlState(signerClient.query('update audit_chain_checkpoints set sealed_count = sealed_count + 1 where id = $1', [id]), '42501');
    await expectSqlState(signerClient.query('delete from audit_chain_checkpoints where id = $1', [id]), '42501');
    await expectSqlState(signerClient.query(`update audit_logs set checksum = null`), '42501');
  });
});

describe('the retention role', () => {
  test('the reproduction: a checkpoint with a bogus key and signature copied from a sealed row cannot be inserted (42501), so nothing is deleted', async () => {
    const retention = await as('retention');
    const rows = await sealedRows();
    const row = rows[4]!;
    const before = await count();
    await expectSqlState(
      retention.query(
        `insert into audit_chain_checkpoints (org_id, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body, exported_to)
         values ($1, $2, 5, $3, now(), 'bogus-key', 'not-a-signature', '{}', '{"directory": "2020-06-01T00:00:00Z"}') returning id`,
        [org, row.chain_seq, row.checksum],
      ),
      '42501',
    );
    // Moving the existing signed checkpoint (at the head) down to that row is refused too.
    await expectSqlState(retention.query('update audit_chain_checkpoints set chain_seq = $1, checksum = $2, sealed_count = 5', [row.chain_seq, row.checksum]), '42501');
    expect(await count()).toBe(before);
  });

  test('a checkpoint whose signed line does not match its columns is no cut: AC010, nothing deleted', async () => {
    // Even a holder of the signer role cannot make the database cut at one row while the signature covers another.
    const rows = await sealedRows();
    const signed = await signCheckpoint({ org_id: org, chain_seq: rows[5]!.chain_seq, sealed_count: '6', checksum: rows[5]!.checksum, signed_at: SIGNED_AT.toISOString() }, signer);
    const signerClient = await as('signer');
    const id = (
      await signerClient.query<{ id: string }>(
        `insert into audit_chain_checkpoints (org_id, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body, exported_to)
         values ($1, $2, 3, $3, $4, $5, $6, $7, '{"directory": "2020-06-01T00:00:00Z"}') returning id::text`,
        [org, rows[2]!.chain_seq, rows[2]!.checksum, signed.signed_at, signed.key_id, signed.signature, JSON.stringify(signed)],
      )
    ).rows[0]!.id;
    const retention = await as('retention');
    const before = await count();
    await expectSqlState(retention.query('select audit_chain_retain_prefix($1, $2)', [id, OLDER_THAN]), 'AC010', /does not match its columns/);
    expect(await count()).toBe(before);
  });

  test('retain refuses a cut whose checkpoint does not verify under the keyring, nothing deleted', async () => {
    const other = generateSigningKeyPair('threat-model-other', new Date('2019-01-01T00:00:00Z'));
    const before = await count();
    const result = await retainChains(db.pool, { olderThan: OLDER_THAN, orgId: org, signer, keyring: [other.keyringEntry], sinks: [sink], batchRows: 4, now: () => SIGNED_AT });
    expect(result.failed).toBe(1);
    expect(result.chains[0]!.error).toMatch(/not one the keyring trusts \(checkpoint_key_unknown/);
    expect(result.deleted).toBe(0);
    expect(await count()).toBe(before);
    await expect(retainChains(db.pool, { olderThan: OLDER_THAN, orgId: org, signer, keyring: null, sinks: [sink] })).rejects.toThrow(LifecycleError);
  });

  test('with the keyring, retain cuts and the cut records the key that signed its checkpoint', async () => {
    const before = await count();
    const result = await retainChains(db.pool, { olderThan: OLDER_THAN, orgId: org, signer, keyring, sinks: [sink], batchRows: 4, now: () => SIGNED_AT });
    expect(result.failed).toBe(0);
    expect(result.deleted).toBeGreaterThan(0);
    expect(await count()).toBe(before - result.deleted);
    const cuts = (await db.pool.query<{ key_id: string | null }>('select key_id from audit_chain_retention_cuts where org_id = $1', [org])).rows;
    expect(cuts.length).toBe(result.cuts);
    expect(new Set(cuts.map((cut) => cut.key_id))).toEqual(new Set([pair.keyId]));
  });

  test('cannot forge a cut record or delete rows directly: 42501', async () => {
    const retention = await as('retention');
    const before = await count();
    await expectSqlState(retention.query(`insert into audit_chain_retention_cuts (org_id, cut_seq, checkpoint_id, checksum, sealed_count, older_than) values ($1, 9e15, 1, 'x', 1, now())`, [org]), '42501');
    await expectSqlState(retention.query('delete from audit_logs where org_id = $1', [org]), '42501');
    expect(await count()).toBe(before);
  });
});

describe('the redactor and admin roles', () => {
  test('the redactor cannot write audit rows or chain columns directly: 42501', async () => {
    const redactor = await as('redactor');
    const row = (await sealedRows())[0]!;
    const before = await rowSnapshot(db.pool, row.id);
    await expectSqlState(redactor.query('update audit_logs set actor_email = null, pii_salt = null where id = $1', [row.id]), '42501');
    await expectSqlState(redactor.query(`insert into audit_chain_redactions (chain_seq, row_id, org_id, fields, redacted_by, xact_id, audit_row_id) values ($1, $2, $3, '{actor_email}', 'x', 1, $2)`, [row.chain_seq, row.id, org]), '42501');
    expect(await rowSnapshot(db.pool, row.id)).toEqual(before);
  });

  test('the admin reads and cannot write: 42501', async () => {
    const admin = await as('admin');
    await admin.query('select count(*) from audit_chain_checkpoints');
    await expectSqlState(admin.query(`insert into audit_logs (org_id, actor_type, action) values ($1, 'user', 'x')`, [org]), '42501');
    await expectSqlState(admin.query('update audit_chain_state set watermark_seq = 0'), '42501');
    await expectSqlState(admin.query('delete from audit_chain_checkpoints'), '42501');
  });
});
