// The safe horizon on a Citus cluster (a coordinator and two workers), with
// audit_logs distributed by org_id and every write going through the
// coordinator: the adversarial scenarios of packages/sealing/src/seal-horizon.test.ts,
// plus the one only Citus has: a row whose coordinator transaction has ended
// while it still waits on a worker in a prepared transaction (a failed
// COMMIT PREPARED of a two-phase commit).
import { describe, expect, test } from 'vitest';
import { openWriterHoldsSealing, rollbackGapsNeverStall, sealFor, watermarkOf } from '../support/horizon-scenarios.ts';
import { CITUS_OPEN_WRITERS_SQL } from '@audit-chain/citus';
import { insertRows, newOrgId } from '../support/audit-rows.ts';
import { connect } from '../support/database.ts';
import { checkAllChains } from '../support/chain-check.ts';
import { createCitusDatabase } from './cluster.ts';
import { orgsOnDifferentWorkers, prepareRowOnWorker } from './shards.ts';

const db = await createCitusDatabase();
const seal = sealFor(db);
const watermark = (orgId: string) => watermarkOf(db, orgId);

describe('safe horizon on Citus', () => {
  test('audit_logs is distributed by org_id over both workers', async () => {
    const shards = await db.pool.query<{ nodeport: number }>(
      "select distinct nodeport from citus_shards where table_name = 'audit_logs'::regclass order by nodeport",
    );
    expect(shards.rows.map((row) => row.nodeport)).toEqual(db.workers.map((node) => node.port));
    const column = await db.pool.query<{ column_name: string }>(
      "select column_to_column_name(logicalrelid, partkey) as column_name from pg_dist_partition where logicalrelid = 'audit_logs'::regclass",
    );
    expect(column.rows[0]?.column_name).toBe('org_id');
  });

  test('an open transaction through the coordinator holding a low chain_seq holds sealing below it, then everything seals in order', () =>
    openWriterHoldsSealing(db));

  test('an open transaction writing two organizations on two workers (a two-phase commit) holds sealing of both', async () => {
    const [orgA, orgB] = await orgsOnDifferentWorkers(db.pool);
    const open = await connect(db.url, 'two-workers');
    await open.query('begin');
    const [heldA] = await insertRows(open, orgA, 1, 'held.a');
    const [heldB] = await insertRows(open, orgB, 1, 'held.b');
    const laterA = await insertRows(db.pool, orgA, 2);
    const laterB = await insertRows(db.pool, orgB, 2);
    const first = await seal();
    expect(first.horizon).toBeLessThan(heldA!);
    expect(await watermark(orgA)).toBeLessThan(heldA!);
    expect(await watermark(orgB)).toBeLessThan(heldB!);
    await open.query('commit');
    await open.end();
    await seal();
    expect(await watermark(orgA)).toBe(laterA[1]!);
    expect(await watermark(orgB)).toBe(laterB[1]!);
    expect((await checkAllChains(db.pool)).problems).toEqual([]);
  });

  test('open transactions that wrote no audit row, on the coordinator or a worker, do not hold sealing back', async () => {
    const org = newOrgId();
    const idle = await connect(db.url, 'idle-reader');
    const workerIdle = await connect(db.workerUrls[0]!, 'worker-idle');
    try {
      await idle.query('begin');
      await idle.query('select pg_current_xact_id()');
      await idle.query('select count(*) from audit_logs');
      await idle.query('create temp table scratch (x int)');
      await workerIdle.query('begin');
      await workerIdle.query('create table if not exists unrelated (x int)');
      await workerIdle.query('insert into unrelated values (1)');

      const seqs = await insertRows(db.pool, org, 4);
      const result = await seal(2000);
      expect(result.holders).toEqual([]);
      expect(await watermark(org)).toBe(seqs[3]!);
    } finally {
      await idle.query('rollback').catch(() => {});
      await workerIdle.query('rollback').catch(() => {});
      await idle.end();
      await workerIdle.end();
    }
  });

  test('rollbacks, savepoint rollbacks and a failing multi-row insert leave gaps that never stall sealing', () => rollbackGapsNeverStall(db));

  test('a row left on a worker in a prepared transaction (its COMMIT PREPARED failed) holds the horizon until it is resolved', async () => {
    const org = newOrgId();
    await insertRows(db.pool, org, 2);
    // What a failed COMMIT PREPARED leaves behind: the coordinator's transaction
    // took the value and has ended, the row waits on the worker, prepared.
    const prepared = await prepareRowOnWorker(db, org, 'prepared.row');
    const later = await insertRows(db.pool, org, 3);

    const first = await seal();
    expect(first.horizon).toBeLessThan(prepared.seq);
    // While a prepared writer exists no probe settles (docs/sealing.md): the horizon waits, at most below the prepared row.
    expect(await watermark(org)).toBeLessThan(prepared.seq);
    expect(first.holders.some((holder) => holder.pid === null && holder.virtualTransaction.startsWith('node '))).toBe(true);

    await prepared.worker.query(`commit prepared '${prepared.gid}'`);
    await prepared.worker.end();
    await seal();
    expect(await watermark(org)).toBe(later[2]!);
    const order = await db.pool.query('select action from audit_logs where org_id = $1 order by chain_seq', [org]);
    expect(order.rows.map((row) => row.action)[2]).toBe('prepared.row');
    expect((await checkAllChains(db.pool)).problems).toEqual([]);
  });

  // Last: it leaves a broken chain behind on purpose.
  test("control: with the single-server listing (the coordinator's locks only) that prepared row would be sealed past", async () => {
    const org = newOrgId();
    const coordinatorOnly = `create or replace view audit_chain_open_writers as
      select * from audit_chain_citus_open_writers() w where w.virtualtransaction not like 'node %'`;
    await db.pool.query(coordinatorOnly);
    try {
      await insertRows(db.pool, org, 2);
      const prepared = await prepareRowOnWorker(db, org, 'prepared.row');
      const later = await insertRows(db.pool, org, 3);
      await seal();
      // The horizon passed the prepared row's value: the chain was sealed over it.
      expect(await watermark(org)).toBe(later[2]!);
      await prepared.worker.query(`commit prepared '${prepared.gid}'`);
      await prepared.worker.end();
      const check = await checkAllChains(db.pool);
      expect(check.problems.join('\n')).toMatch(new RegExp(`#${prepared.seq}: below the watermark without links`));
    } finally {
      for (const statement of CITUS_OPEN_WRITERS_SQL) await db.pool.query(statement);
    }
  });

  // Last: the coordinator's cached connections to that worker are cut.
  test('a worker that cannot be asked stops the horizon instead of letting it pass', async () => {
    const org = newOrgId();
    const node = db.workers[0]!;
    const workerAdmin = db.workerUrls[0]!.replace(`/${db.name}`, '/postgres');
    const seqs = await insertRows(db.pool, org, 2);
    const admin = await connect(workerAdmin, 'cut-off');
    try {
      await admin.query(`alter database ${db.name} allow_connections false`);
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [db.name]);
      await expect(seal()).rejects.toThrow(new RegExp(`${node.host}:${node.port}|remote node|connection`));
      expect(await watermark(org)).toBe(0n);
    } finally {
      await admin.query(`alter database ${db.name} allow_connections true`);
      await admin.end();
    }
    expect(seqs).toHaveLength(2);
  });
});

