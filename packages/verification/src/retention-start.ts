// Where a chain's verification starts once retention has deleted its oldest
// rows: after the latest retention cut, whose row was covered by a signed
// checkpoint (docs/chain-format.md, "Starting from a checkpoint"). The cut is
// only a record in the database: the chain is vouched for from there only if a
// trusted checkpoint says the same (chain_seq, checksum, sealed_count). And the
// cut deleted every row of the chain up to it: a row still there is reported
// (row_below_cut), so that a cut record forged by someone who can write the
// database cannot hide rows from the verifier.
import type pg from 'pg';
import { assertCheckpointBody, type CheckpointBody } from '@audit-chain/chain';
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
 * at all); verification still starts there, the rows before it being gone. Every
 * row of the chain still at or below the cut is a break (row_below_cut).
 */
export async function retentionStart(
  db: Queryable,
  orgId: string | null,
  trusted: readonly CheckpointBody[],
  checkpointsChecked: boolean,
  onBreak: (chainBreak: RunBreak) => void,
  pageSize = 2000,
): Promise<CheckpointBody | null> {
  const cut = (await db.query<CutRow>(readLatestCut(orgId))).rows[0];
  if (!cut) return null;
  const confirmed = trusted.find((c) => c.chain_seq === cut.cut_seq && c.checksum === cut.checksum && c.sealed_count === cut.sealed_count);
  if (!confirmed && checkpointsChecked) {
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
  await reportRowsBelowCut(db, orgId, cut, pageSize, onBreak);
  if (confirmed) return confirmed;
  // An unsigned stand-in with the cut's values, so the rows after it are still checked.
  const standIn: CheckpointBody = { v: 1, org_id: orgId, chain_seq: cut.cut_seq, sealed_count: cut.sealed_count, checksum: cut.checksum, signed_at: '1970-01-01T00:00:00.000Z', key_id: 'retention-cut' };
  const invalid = standInProblem(standIn);
  if (invalid === null) return standIn;
  // A cut record no checkpoint could say (written by someone who can write the
  // database): a break, not a failed run; the chain is checked from its first
  // remaining row, whose link to the deleted rows then cannot be confirmed.
  onBreak({
    kind: 'checkpoint_mismatch',
    orgId,
    chainSeq: cut.cut_seq,
    rowId: null,
    expected: 'a retention cut whose chain_seq, sealed_count and checksum form a checkpoint',
    found: `chain_seq ${cut.cut_seq}, sealed_count ${cut.sealed_count}, checksum ${cut.checksum}`,
    message: `chain ${chainId(orgId)}'s retention cut ${cut.id} cannot be a checkpoint (${invalid}): verification starts at the chain's first remaining row`,
  });
  return null;
}

function standInProblem(body: CheckpointBody): string | null {
  try {
    assertCheckpointBody(body);
  } catch (error) {
    return (error as Error).message;
  }
  return null;
}

/**
 * Reports each row of the chain at or below the cut (none after an honest
 * retention run), page by page on the (org_id, chain_seq) index. These rows are
 * not verified: the chain's evidence starts after the cut.
 */
async function reportRowsBelowCut(db: Queryable, orgId: string | null, cut: CutRow, pageSize: number, onBreak: (chainBreak: RunBreak) => void): Promise<void> {
  const orgClause = orgId === null ? 'a.org_id is null' : 'a.org_id = $4::uuid';
  let after = '-9223372036854775808'; // below every bigint chain_seq
  while (true) {
    const values: unknown[] = [cut.cut_seq, after, pageSize];
    if (orgId !== null) values.push(orgId);
    const page = await db.query<{ id: string; chain_seq: string }>(
      `select a.id::text as id, a.chain_seq
         from audit_logs a
        where ${orgClause} and a.chain_seq <= $1::bigint and a.chain_seq > $2::bigint
        order by a.org_id, a.chain_seq
        limit $3`,
      values,
    );
    for (const row of page.rows) {
      onBreak({
        kind: 'row_below_cut',
        orgId,
        chainSeq: row.chain_seq,
        rowId: row.id,
        expected: `no row at or below chain_seq ${cut.cut_seq}`,
        found: row.chain_seq,
        message: `chain ${chainId(orgId)}'s row at chain_seq ${row.chain_seq} is still present, but retention cut ${cut.id} deleted the chain's rows up to chain_seq ${cut.cut_seq}: the row was put back, or the cut record was forged to hide it from verification`,
      });
    }
    if (page.rows.length < pageSize) return;
    after = page.rows[page.rows.length - 1]!.chain_seq;
  }
}

/** The later of two starting points (by chain_seq). */
export function laterStart(a: CheckpointBody | null, b: CheckpointBody | null): CheckpointBody | null {
  if (!a) return b;
  if (!b) return a;
  return BigInt(b.chain_seq) > BigInt(a.chain_seq) ? b : a;
}
