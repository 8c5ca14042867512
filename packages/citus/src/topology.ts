// What kind of database audit-chain runs on: a plain PostgreSQL, a Citus
// coordinator with audit_logs still local, or one with audit_logs distributed
// by its chain key (org_id). Read from the catalog, never configured.
import type pg from 'pg';

type Queryable = Pick<pg.ClientBase, 'query'>;

export interface CitusTopology {
  /** The citus extension exists in this database. */
  installed: boolean;
  /** Its version (e.g. 12.1-1), or null. */
  version: string | null;
  /** Active worker nodes (primaries other than the coordinator). */
  workers: { host: string; port: number }[];
  /** audit_logs is a distributed table here. */
  distributed: boolean;
  /** Its distribution column when distributed. */
  distributionColumn: string | null;
  shardCount: number;
}

export async function readCitusTopology(db: Queryable): Promise<CitusTopology> {
  const extension = await db.query<{ extversion: string }>("select extversion from pg_extension where extname = 'citus'");
  const version = extension.rows[0]?.extversion ?? null;
  if (version === null) return { installed: false, version, workers: [], distributed: false, distributionColumn: null, shardCount: 0 };
  const workers = await db.query<{ nodename: string; nodeport: number }>(
    `select nodename, nodeport from pg_dist_node
      where isactive and noderole = 'primary' and groupid <> 0 order by nodename, nodeport`,
  );
  const table = await db.query<{ column_name: string | null; shards: number }>(
    `select column_to_column_name(p.logicalrelid, p.partkey) as column_name,
            (select count(*)::int from pg_dist_shard s where s.logicalrelid = p.logicalrelid) as shards
       from pg_dist_partition p where p.logicalrelid = 'audit_logs'::regclass`,
  );
  const row = table.rows[0];
  return {
    installed: true,
    version,
    workers: workers.rows.map((node) => ({ host: node.nodename, port: node.nodeport })),
    distributed: row !== undefined,
    distributionColumn: row?.column_name ?? null,
    shardCount: row?.shards ?? 0,
  };
}

/** True when audit_logs is a Citus distributed table in this database (false on a plain PostgreSQL). */
export async function isDistributed(db: Queryable): Promise<boolean> {
  const result = await db.query<{ distributed: boolean }>(
    `select exists (select 1 from pg_extension where extname = 'citus')
            and to_regclass('pg_catalog.pg_dist_partition') is not null as distributed`,
  );
  if (!result.rows[0]?.distributed) return false;
  const table = await db.query<{ n: number }>(
    "select count(*)::int as n from pg_dist_partition where logicalrelid = 'audit_logs'::regclass",
  );
  return (table.rows[0]?.n ?? 0) > 0;
}
