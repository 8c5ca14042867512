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
  retain:
    'retention is not supported on Citus: the retention DELETE runs on the shards, where the trigger that lets it through reads the cuts of the transaction from a setting made with set_config (Citus sends only SET LOCAL, with citus.propagate_set_commands = local) and looks them up in audit_chain_retention_cuts, a coordinator-local table absent from the workers, so it refuses every row (AC002)',
  redact:
    'redaction is not supported on Citus: the append-only trigger on the shard accepts an erasure only with a redaction record carrying its own transaction id, and a worker\'s transaction id is not the coordinator\'s, so it refuses the change (AC001)',
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
