// The operations audit-chain does not offer on a Citus cluster, each with the
// reason, so a command refuses with one line before it changes anything.
import type pg from 'pg';
import { isDistributed } from './topology.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

/** An operation refused because audit_logs is distributed; the message says why. */
export class CitusUnsupportedError extends Error {
  override name = 'CitusUnsupportedError';
}

export const UNSUPPORTED_ON_CITUS = {
  retainTable:
    'retention of an attached table (retain --table) is not supported on Citus: audit-chain has not tested it there; retention of audit_logs is supported',
  redactTable:
    'redaction of an attached table\'s row (redact --table) is not supported on Citus: its audit row goes to audit_logs\' system chain (org_id null), which a table distributed by org_id cannot hold',
  adopt:
    'adoption of existing rows is not supported on Citus: it captures inserts with a trigger on audit_logs that writes a coordinator-local queue, which the shards cannot reach; adopt on one server, then distribute',
  systemChain:
    'the system chain (org_id null) is not supported on Citus: audit_logs is distributed by org_id, and Citus refuses a NULL distribution column; give the event an organization',
  partition:
    'time partitioning is not supported on Citus by audit-chain: convert rewrites audit_logs into a partitioned table, which would undo its distribution; retention by partitions depends on it too',
} as const;

export type UnsupportedOperation = keyof typeof UNSUPPORTED_ON_CITUS;

/**
 * Citus's refusal (SQLSTATE 22004) of a row whose distribution column is NULL,
 * that is an event of the system chain: one message for a single-row INSERT
 * (the router planner), another for a multi-row one (the coordinator's
 * routing of each row).
 */
export function isSystemChainRefusal(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || (error as { code?: unknown }).code !== '22004') return false;
  const message = error instanceof Error ? error.message : '';
  return /^the partition column of table \S*audit_logs cannot be NULL$/.test(message) || message === 'cannot perform an INSERT with NULL in the partition column';
}

/** Throws CitusUnsupportedError when audit_logs is distributed; a no-op on one server. */
export async function refuseOnCitus(db: Queryable, operation: UnsupportedOperation): Promise<void> {
  if (await isDistributed(db)) throw new CitusUnsupportedError(UNSUPPORTED_ON_CITUS[operation]);
}

/**
 * Retention on Citus reads the cuts on the workers, so audit_chain_retention_cuts
 * must be a reference table, which `citus distribute` makes; a cluster
 * distributed before that has it on the coordinator only. Throws
 * CitusUnsupportedError then, before any checkpoint is signed; a no-op on one server.
 */
export async function assertRetentionLayout(db: Queryable): Promise<void> {
  if (!(await isDistributed(db))) return;
  const cuts = await db.query<{ present: boolean }>(
    "select exists (select 1 from pg_dist_partition where logicalrelid = 'audit_chain_retention_cuts'::regclass) as present",
  );
  if (!cuts.rows[0]?.present) {
    throw new CitusUnsupportedError(
      'retention on Citus needs audit_chain_retention_cuts as a reference table, which this cluster was distributed without: run `audit-chain citus distribute` again (it keeps audit_logs as it is and makes the cuts a reference table); nothing deleted',
    );
  }
}
