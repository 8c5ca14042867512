// Retention and erasure of an attached table while its product keeps writing
// and the sealer keeps sealing, against a real PostgreSQL: 6 writer
// connections insert (some in transactions that roll back), a sealer seals in
// a loop, retention cuts in small batches and the redactor erases rows; at the
// end, after a last seal, verification with the keyring is clean, no row
// younger than the limit is gone, and every cut is below its chain's head.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { withDatabaseName } from '@audit-chain/db';
import { redactAttachedRow, retainAttachedTable } from '@audit-chain/lifecycle';
import { sealAttachedTables } from '@audit-chain/sealing';
import { DirectoryCheckpointSink, generateSigningKeyPair, loadSigningKey, verifyAttachedTables } from '@audit-chain/verification';
import { createTestDatabase } from '../support/database.ts';
import { newOrgId } from '../support/audit-rows.ts';
import { TABLE, attachProduct, createProduct, productPool, sealProduct, writeAt } from '../attach/attached-fixture.ts';

const db = await createTestDatabase();
const product = productPool(db.name);
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-attached-concurrent-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pair = generateSigningKeyPair('attached-concurrent-1', new Date('2020-01-01T00:00:00Z'));
const signer = loadSigningKey({ pem: pair.privatePem, keyId: pair.keyId })!;
const keyring = [pair.keyringEntry];
const sink = new DirectoryCheckpointSink(join(dir, 'checkpoints'));
const NOW = new Date('2026-06-01T00:00:00Z');
const olderThan = new Date('2025-04-27T00:00:00Z');
const orgs = [newOrgId(), newOrgId(), newOrgId()];

beforeAll(async () => {
  await createProduct(db.pool);
  for (const [n, org] of orgs.entries()) await writeAt(product, org, Array.from({ length: 40 }, (_, i) => `2024-0${n + 1}-01 00:00:${String(i).padStart(2, '0')}`));
  await attachProduct(db.pool);
  await db.pool.query('alter table public.audit_logs alter column ip_address drop not null');
  await sealProduct(db.pool);
});

test('writers, the sealer, retention and the redactor at once; verify is clean afterwards', async () => {
  let stop = false;
  let written = 0;
  let writtenYoung = 0;
  let rolledBack = 0;
  const writers = Array.from({ length: 6 }, async (_, w) => {
    const client = new pg.Client({ connectionString: withDatabaseName(inject('serverUrl'), db.name) });
    await client.connect();
    try {
      for (let n = 0; !stop; n += 1) {
        const org = orgs[(w + n) % orgs.length]!;
        // Half old by their time (they become deletable once sealed and below a younger head), half young.
        const at = n % 2 === 0 ? `2024-06-0${1 + (n % 9)} 00:00:00` : '2026-05-01 00:00:00';
        await client.query('begin');
        await client.query(
          `insert into public.audit_logs (org_id, actor_type, actor_id, action, ip_address, created_at) values ($1, 'user', $2, 'live', '10.0.0.9', $3::timestamp)`,
          [org, `w${w}-${n}@example.com`, at],
        );
        if (n % 5 === 4) {
          await client.query('rollback');
          rolledBack += 1;
        } else {
          await client.query('commit');
          written += 1;
          if (n % 2 === 1) writtenYoung += 1;
        }
      }
    } finally {
      await client.end();
    }
  });
  const sealer = (async () => {
    while (!stop) await sealAttachedTables(db.pool, { batchSize: 50, waitMs: 200 });
  })();
  let deleted = 0;
  let redacted = 0;
  const lifecycle = (async () => {
    for (let round = 0; round < 6; round += 1) {
      const result = await retainAttachedTable(db.pool, { table: TABLE, olderThan, now: () => NOW, signer, keyring, sinks: [sink], batchRows: 7 });
      expect(result.chains.map((chain) => chain.error)).toEqual(result.chains.map(() => null));
      deleted += result.deleted;
      const sealed = await db.pool.query<{ seq: string }>(
        `select t.audit_chain_seq::text as seq from public.audit_logs t join audit_chain_table_state s on s.chain_key = t.org_id::text
          where t.audit_chain_seq <= s.watermark_seq and t.actor_id is not null order by t.audit_chain_seq desc limit 2`,
      );
      for (const { seq } of sealed.rows) {
        try {
          await redactAttachedRow(db.pool, { table: TABLE, row: { chainSeq: seq }, fields: [], reason: `round ${round}` });
          redacted += 1;
        } catch (error) {
          // Retention may have deleted the row since it was read; anything else is a failure.
          if (!/got 0 rows, want exactly one/.test((error as Error).message)) throw error;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  try {
    await lifecycle;
  } finally {
    stop = true;
  }
  await Promise.all([...writers, sealer]);
  await sealProduct(db.pool);

  expect(written).toBeGreaterThan(20);
  expect(rolledBack).toBeGreaterThan(0);
  expect(deleted).toBeGreaterThan(0);
  expect(redacted).toBeGreaterThan(0);
  const report = await verifyAttachedTables(db.pool, { keyring });
  expect(report.breaks).toEqual([]);
  expect(report.chains.reduce((sum, chain) => sum + chain.redacted, 0)).toBeGreaterThan(0);
  // Nothing young went: every live row written after the limit is still there.
  const young = await db.pool.query<{ n: number }>("select count(*)::int as n from public.audit_logs where action = 'live' and created_at >= '2026-01-01'");
  expect(young.rows[0]!.n).toBe(writtenYoung);
  const cuts = await db.pool.query<{ bad: number }>(
    `select count(*)::int as bad from audit_chain_table_retention_cuts c join audit_chain_table_state s on s.table_id = c.table_id and s.chain_key = c.chain_key where c.cut_seq >= s.watermark_seq`,
  );
  expect(cuts.rows[0]!.bad).toBe(0);
});
