import { describe, expect, test } from 'vitest';
import { withDatabaseName } from '@audit-chain/db';
import { connect, createTestDatabase, withAdmin } from '../../../test/support/database.ts';
import { insertRows, newOrgId } from '../../../test/support/audit-rows.ts';
import { checkAllChains } from '../../../test/support/chain-check.ts';
import { inject } from 'vitest';
import { openWriterHoldsSealing, rollbackGapsNeverStall, sealFor, watermarkOf } from '../../../test/support/horizon-scenarios.ts';

const db = await createTestDatabase();
const seal = sealFor(db);
const watermark = (orgId: string | null) => watermarkOf(db, orgId);

describe('safe horizon', () => {
  test('an open transaction holding a low chain_seq holds sealing below it, then everything seals in order', () => openWriterHoldsSealing(db));

  test('open transactions that wrote no audit row, here or in another database, do not hold sealing back', async () => {
    const org = newOrgId();
    const otherDb = `${db.name}_other`;
    const serverUrl = inject('serverUrl');
    await withAdmin(serverUrl, (admin) => admin.query(`create database ${otherDb}`));
    const elsewhere = await connect(withDatabaseName(serverUrl, otherDb), 'elsewhere');
    const idle = await connect(db.url, 'idle-reader');
    try {
      await elsewhere.query('begin');
      await elsewhere.query('create table t (x int)');
      await elsewhere.query('insert into t values (1)');
      await elsewhere.query('select pg_current_xact_id()');
      await idle.query('begin');
      await idle.query('select pg_current_xact_id()');
      await idle.query('select count(*) from audit_logs');
      await idle.query('create temp table scratch (x int)');

      const seqs = await insertRows(db.pool, org, 4);
      const result = await seal(2000);
      expect(result.holders).toEqual([]);
      expect(await watermark(org)).toBe(seqs[3]!);
    } finally {
      await elsewhere.query('rollback').catch(() => {});
      await idle.query('rollback').catch(() => {});
      await elsewhere.end();
      await idle.end();
      await withAdmin(serverUrl, (admin) => admin.query(`drop database if exists ${otherDb} with (force)`));
    }
  });

  test('rollbacks, savepoint rollbacks and a failing multi-row insert leave gaps that never stall sealing', () => rollbackGapsNeverStall(db));

  test('the system chain (NULL org) seals like any other', async () => {
    const seqs = await insertRows(db.pool, null, 7);
    await seal();
    expect(await watermark(null)).toBe(seqs[6]!);
    expect((await checkAllChains(db.pool)).problems).toEqual([]);
  });
});
