// Where a chain's verification starts once retention has deleted its oldest
// rows: after the latest retention cut, whose row was covered by a signed
// checkpoint (docs/chain-format.md, "Starting from a checkpoint"). The cut is
// only a record in the database: the chain is vouched for from there only if a
// trusted checkpoint says the same (chain_seq, checksum, sealed_count).
import type pg from 'pg';
import type { CheckpointBody } from '@audit-chain/chain';
import { chainId, type RunBreak } from './run-types.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

interface CutRow {
  id: string;
  cut_seq: string;
  checksum: string;
  sealed_count: string;
  checkpoint_id: string;
}

function readLatestCut(orgId: string | null): { text: string; values: unknown[] } {
  const columns = 'c.id::text as id, c.cut_seq::text as cut_seq, c.checksum, c.sealed_count::text as sealed_count, c.checkpoint_id::text as checkpoint_id';
  return orgId === null
    ? { text: `select ${columns} from audit_chain_retention_cuts c where c.org_id is null order by c.org_id, c.cut_seq desc limit 1`, values: [] }
    : { text: `select ${columns} from audit_chain_retention_cuts c where c.org_id = $1::uuid order by c.cut_seq desc limit 1`, values: [orgId] };
}

/**
 * The checkpoint to start after because of a retention cut, or null without one.
 * A cut no trusted checkpoint confirms is a break (when checkpoints are checked
 * at all); verification still starts there, the rows before it being gone.
 */
export async function retentionStart(
  db: Queryable,
  orgId: string | null,
  trusted: readonly CheckpointBody[],
  checkpointsChecked: boolean,
  onBreak: (chainBreak: RunBreak) => void,
): Promise<CheckpointBody | null> {
  const cut = (await db.query<CutRow>(readLatestCut(orgId))).rows[0];
  if (!cut) return null;
  const confirmed = trusted.find((c) => c.chain_seq === cut.cut_seq && c.checksum === cut.checksum && c.sealed_count === cut.sealed_count);
  if (confirmed) return confirmed;
  if (checkpointsChecked) {
    onBreak({
      kind: 'checkpoint_mismatch',
      orgId,
      chainSeq: cut.cut_seq,
      rowId: null,
      expected: `a trusted checkpoint at chain_seq ${cut.cut_seq} with checksum ${cut.checksum} and sealed_count ${cut.sealed_count}`,
      found: null,
      message: `chain ${chainId(orgId)}'s rows up to chain_seq ${cut.cut_seq} were deleted by retention cut ${cut.id} (checkpoint id ${cut.checkpoint_id}), but no trusted checkpoint confirms the cut: the chain's start is not vouched for`,
    });
  }
  // An unsigned stand-in with the cut's values, so the rows after it are still checked.
  return { v: 1, org_id: orgId, chain_seq: cut.cut_seq, sealed_count: cut.sealed_count, checksum: cut.checksum, signed_at: '1970-01-01T00:00:00.000Z', key_id: 'retention-cut' };
}

/** The later of two starting points (by chain_seq). */
export function laterStart(a: CheckpointBody | null, b: CheckpointBody | null): CheckpointBody | null {
  if (!a) return b;
  if (!b) return a;
  return BigInt(b.chain_seq) > BigInt(a.chain_seq) ? b : a;
}
