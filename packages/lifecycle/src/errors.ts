// The SQLSTATE codes the lifecycle functions raise on purpose (drizzle/0015 to
// 0017 and the partitioning migration), and the errors the TypeScript side
// throws for a refused operation. Each message names the broken invariant.
import { sqlState } from '@audit-chain/db';

export const LifecycleSqlState = {
  /** audit_chain_retain_*: a cut that is not a checkpointed, exported prefix below the head. */
  retentionRefused: 'AC010',
  /** audit_chain_redact: a row that cannot be redacted (pending, already redacted, fields left uncovered). */
  redactionRefused: 'AC011',
  /** audit_chain_partition_*: a partition operation that would break a chain or the insert path. */
  partitionRefused: 'AC012',
} as const;

/** An operation the database or this package refused; the message says why and what to do. */
export class LifecycleError extends Error {
  override name = 'LifecycleError';
}

/** The database refused a lifecycle operation on purpose (AC010-AC012): its message is already written for operators. */
export function isLifecycleRefusal(error: unknown): error is Error & { code: string } {
  const code = sqlState(error);
  return code !== undefined && (Object.values(LifecycleSqlState) as string[]).includes(code);
}
