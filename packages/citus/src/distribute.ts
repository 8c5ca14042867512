// audit-chain citus distribute: turns a migrated audit-chain database on a
// Citus coordinator into the Citus layout, idempotently:
//   * audit_logs is distributed by its chain key, org_id: all of a chain's rows
//     live in one shard, so sealing, verifying and the no-fork unique index
//     (org_id, prev_checksum) are single-shard, as on one server. Its primary
//     key becomes (org_id, id) (Citus needs the distribution column in every
//     unique constraint), which also makes org_id NOT NULL: the system chain
//     (org_id NULL) has no place in a table distributed by org_id;
//   * audit_chain_redactions becomes a reference table (a copy on every node):
//     the append-only trigger on the shards and verification's per-row
//     "was this row redacted" probe read it next to the rows, which Citus can
//     do with a reference table and cannot with a coordinator-local one;
//   * audit_chain_retention_cuts becomes a reference table too: the retention
//     trigger on the shards looks up the cuts its transaction names
//     (drizzle/0015, 0061) next to the rows it deletes, and verification reads
//     each chain's latest cut. A cut is one row per chain per retention run,
//     written in the deleting transaction (a two-phase commit over the nodes
//     that hold a copy). Colocating it by org_id would also keep each cut
//     next to its chain, but the trigger's lookup would then be a query on a
//     distributed table from inside a shard's statement (not tried); a
//     reference table is read from the node's own copy, as redactions are;
//   * every other table stays a plain table on the coordinator: the chain
//     bookkeeping (state, discovery, progress), checkpoints, verifications,
//     roles, heartbeats and pg-boss are one row per chain or fewer, read and
//     written by the sealer in the same transactions as before, and never read
//     from the shards;
//   * audit_chain_open_writers lists the open audit writers of every node
//     (open-writers.ts), which the safe horizon needs on this topology.
//   * writes go through the coordinator only (docs/sealing.md says why): a
//     worker hands out identity values from its own range, (group id << 48)
//     and up, which the coordinator's horizon never reaches, so a CHECK
//     refuses them (audit_logs_chain_seq_from_coordinator) instead of letting
//     such rows wait unsealed for ever.
import type pg from 'pg';
import { CITUS_OPEN_WRITERS_SQL } from './open-writers.ts';
import { readCitusTopology, type CitusTopology } from './topology.ts';

/** The first identity value a Citus worker hands out (group 1): 2^48. The coordinator's (group 0) stay below. */
export const WORKER_SEQUENCE_START = 2n ** 48n;

/** A distribution refused before anything changed; the message says why and what to do. */
export class CitusDistributeError extends Error {
  override name = 'CitusDistributeError';
}

export interface DistributeOptions {
  /** Shards of audit_logs (default: Citus's citus.shard_count, 32). */
  shardCount?: number;
}

export interface DistributeResult {
  /** False when audit_logs was distributed already (the listing is re-installed all the same). */
  distributed: boolean;
  topology: CitusTopology;
}

/** Distributes audit_logs by org_id and installs the cluster-wide horizon listing. Run as the owner of audit_logs. */
export async function distributeAuditLogs(client: pg.ClientBase, options: DistributeOptions = {}): Promise<DistributeResult> {
  let topology = await readCitusTopology(client);
  if (!topology.installed) {
    throw new CitusDistributeError('the citus extension is not installed in this database: CREATE EXTENSION citus on the coordinator and on every worker, then add the workers (citus_add_node)');
  }
  if (topology.workers.length === 0) {
    throw new CitusDistributeError('this Citus coordinator has no active worker node: add them with citus_add_node first');
  }
  const migrated = await client.query<{ present: boolean }>("select to_regclass('audit_logs') is not null as present");
  if (!migrated.rows[0]?.present) throw new CitusDistributeError('audit_logs does not exist: run `audit-chain migrate` first');

  let distributed = false;
  if (topology.distributed) {
    if (topology.distributionColumn !== 'org_id') {
      throw new CitusDistributeError(`audit_logs is distributed by ${topology.distributionColumn}, not by its chain key org_id: undistribute it (undistribute_table) and run this again`);
    }
  } else {
    const kind = await client.query<{ relkind: string }>("select relkind from pg_class where oid = 'audit_logs'::regclass");
    if (kind.rows[0]?.relkind === 'p') {
      throw new CitusDistributeError('audit_logs is partitioned (audit-chain partition convert): a partitioned audit_logs is not supported on Citus by audit-chain');
    }
    const system = await client.query<{ n: string }>('select count(*)::text as n from audit_logs where org_id is null');
    if (system.rows[0]?.n !== '0') {
      throw new CitusDistributeError(`audit_logs has ${system.rows[0]?.n} rows of the system chain (org_id NULL): a table distributed by org_id cannot hold them; move them to an organization of their own first`);
    }
    await client.query('begin');
    try {
      // The append-only triggers go to every shard with the table.
      await client.query('set local citus.enable_unsafe_triggers = on');
      await client.query('alter table audit_logs drop constraint audit_logs_pkey');
      await client.query('alter table audit_logs add constraint audit_logs_pkey primary key (org_id, id)');
      await client.query(`alter table audit_logs add constraint audit_logs_chain_seq_from_coordinator check (chain_seq < ${WORKER_SEQUENCE_START})`);
      await client.query(
        options.shardCount === undefined
          ? "select create_distributed_table('audit_logs', 'org_id')"
          : "select create_distributed_table('audit_logs', 'org_id', shard_count => $1)",
        options.shardCount === undefined ? [] : [options.shardCount],
      );
      await client.query("select create_reference_table('audit_chain_redactions')");
      await client.query("select create_reference_table('audit_chain_retention_cuts')");
      await client.query('commit');
    } catch (error) {
      await client.query('rollback').catch(() => {});
      throw error;
    }
    distributed = true;
  }
  // A cluster distributed before retention worked on Citus has the cuts on the coordinator only.
  const cuts = await client.query<{ present: boolean }>(
    "select exists (select 1 from pg_dist_partition where logicalrelid = 'audit_chain_retention_cuts'::regclass) as present",
  );
  if (!cuts.rows[0]?.present) await client.query("select create_reference_table('audit_chain_retention_cuts')");
  for (const statement of CITUS_OPEN_WRITERS_SQL) await client.query(statement);
  topology = await readCitusTopology(client);
  return { distributed, topology };
}
