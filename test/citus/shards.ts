// Where an organization's rows live on the Citus test cluster, and how many
// rows are still pending (counted without a correlated subquery, which Citus
// cannot run between a coordinator-local table and audit_logs).
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { newOrgId } from '../support/audit-rows.ts';
import { connect } from '../support/database.ts';
import type { CitusDatabase } from './cluster.ts';

export interface ShardPlace {
  shardId: string;
  /** The shard's table name on its worker (audit_logs_<shardid>). */
  shardName: string;
  nodename: string;
  nodeport: number;
}

export async function shardOf(pool: pg.Pool, orgId: string): Promise<ShardPlace> {
  const result = await pool.query<{ shardid: string; shard_name: string; nodename: string; nodeport: number }>(
    `select s.shardid::text, s.shard_name::text, s.nodename, s.nodeport
       from citus_shards s
      where s.table_name = 'audit_logs'::regclass
        and s.shardid = get_shard_id_for_distribution_column('audit_logs', $1::uuid)`,
    [orgId],
  );
  const row = result.rows[0];
  if (!row) throw new Error(`no shard of audit_logs for organization ${orgId}`);
  return { shardId: row.shardid, shardName: row.shard_name, nodename: row.nodename, nodeport: row.nodeport };
}

/** The test database on the worker listening on `port`. */
export function workerUrlOf(db: CitusDatabase, port: number): string {
  const index = db.workers.findIndex((node) => node.port === port);
  if (index < 0) throw new Error(`no worker on port ${port}, want one of ${db.workers.map((node) => node.port).join(', ')}`);
  return db.workerUrls[index]!;
}

/** Rows above their chain's watermark, counted from the rows themselves. */
export async function pendingRows(pool: pg.Pool): Promise<number> {
  const states = await pool.query<{ org_id: string; watermark_seq: string }>('select org_id::text, watermark_seq::text from audit_chain_state');
  const chains = await pool.query<{ org_id: string; seqs: string[] }>('select org_id::text, array_agg(chain_seq::text) as seqs from audit_logs group by org_id');
  const watermarks = new Map(states.rows.map((row) => [row.org_id, BigInt(row.watermark_seq)]));
  return chains.rows.reduce((sum, row) => sum + row.seqs.filter((seq) => BigInt(seq) > (watermarks.get(row.org_id) ?? 0n)).length, 0);
}

/** Two organizations whose rows live on different workers. */
export async function orgsOnDifferentWorkers(pool: pg.Pool): Promise<[string, string]> {
  const first = newOrgId();
  const firstNode = (await shardOf(pool, first)).nodeport;
  for (;;) {
    const candidate = newOrgId();
    if ((await shardOf(pool, candidate)).nodeport !== firstNode) return [first, candidate];
  }
}

export interface PreparedRow {
  seq: bigint;
  gid: string;
  /** The worker connection that prepared it: COMMIT PREPARED or ROLLBACK PREPARED through it, then end it. */
  worker: pg.Client;
}

/**
 * What a failed COMMIT PREPARED leaves behind: takes a chain_seq on the
 * coordinator (whose transaction then has ended) and leaves a row with it on
 * the organization's worker, in a prepared transaction.
 */
export async function prepareRowOnWorker(db: CitusDatabase, orgId: string, action: string): Promise<PreparedRow> {
  const seq = BigInt((await db.pool.query<{ v: string }>("select nextval('audit_logs_chain_seq')::text as v")).rows[0]!.v);
  const shard = await shardOf(db.pool, orgId);
  const worker = await connect(workerUrlOf(db, shard.nodeport), 'prepared-writer');
  const gid = `citus_test_${randomBytes(6).toString('hex')}_${seq}`;
  await worker.query('begin');
  await worker.query('set local citus.enable_manual_changes_to_shards = on');
  await worker.query(
    `insert into ${shard.shardName} (org_id, chain_seq, actor_type, action) overriding system value values ($1, $2, 'user', $3)`,
    [orgId, seq.toString(), action],
  );
  await worker.query(`prepare transaction '${gid}'`);
  return { seq, gid, worker };
}
