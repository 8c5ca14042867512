// Where an organization's rows live on the Citus test cluster.
import type pg from 'pg';
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
