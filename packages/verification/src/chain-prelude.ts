// The parts of verifying one chain that a sequential and a parallel run
// share: what is checked before the chain's rows (chain_halted, a lost state
// row, the retention cut), the row verifier's options, and the per-chain tally
// of breaks for the chain's summary.
import type pg from 'pg';
import type { BreakKind, ChainStateSnapshot, ChainVerifierOptions, CheckpointBody, VerifyChainOptions, VerifyReport } from '@audit-chain/chain';
import { listChainStates, type ChainStateRow } from '@audit-chain/sealing';
import { laterStart, retentionStart } from './retention-start.ts';
import { chainId, type ChainSummary, type RunBreak } from './run-types.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

const EMPTY_STATE: ChainStateSnapshot = { watermarkSeq: '0', headChecksum: null, sealedCount: null };

export interface OneChainOptions {
  checkpoints: readonly CheckpointBody[];
  checkpointBreaks: readonly RunBreak[];
  otherOrgIds: Iterable<string | null>;
  fromCheckpoint: CheckpointBody | null;
  /** Whether checkpoints were checked at all (a keyring was given). */
  keyringGiven: boolean;
  haltIsBreak: boolean;
  pageSize: number | undefined;
  onBreak: (chainBreak: RunBreak) => void;
  onProgress: (rows: number) => void;
}

/** Counts one chain's breaks for its summary and passes each on to the run's report. */
export class ChainTally {
  breakCount = 0;
  readonly breaksByKind: Partial<Record<BreakKind, number>> = {};
  firstBreak: RunBreak | null = null;
  private readonly forward: (chainBreak: RunBreak) => void;
  constructor(forward: (chainBreak: RunBreak) => void) {
    this.forward = forward;
  }

  readonly add = (chainBreak: RunBreak): void => {
    this.breakCount += 1;
    this.breaksByKind[chainBreak.kind] = (this.breaksByKind[chainBreak.kind] ?? 0) + 1;
    this.firstBreak ??= chainBreak;
    this.forward(chainBreak);
  };

  summary(orgId: string | null, report: VerifyReport, prelude: ChainPrelude, trustedCheckpoints: number): ChainSummary {
    return {
      orgId,
      counts: report.counts,
      breakCount: this.breakCount,
      breaksByKind: this.breaksByKind,
      firstBreak: this.firstBreak,
      startedAfter: prelude.start?.chain_seq ?? null,
      trustedCheckpoints,
      watermarkSeq: prelude.snapshot.watermarkSeq,
      lastSeq: report.lastSeq,
    };
  }
}

/** What a chain's rows are checked against, read before them in the same snapshot. */
export interface ChainPrelude {
  snapshot: ChainStateSnapshot;
  /** The state row is gone and a checkpoint stands in for it. */
  standIn: boolean;
  /** Start after this checkpoint (retention cut or --from-checkpoint); null: from the first row. */
  start: CheckpointBody | null;
}

/**
 * The checks of a chain that come before its rows, in the order verification
 * reports them: untrusted checkpoints, a halt, a missing state row, the
 * retention cut (and rows below it). Runs in the caller's snapshot.
 */
export async function chainPrelude(client: Queryable, orgId: string | null, options: OneChainOptions, onBreak: (chainBreak: RunBreak) => void): Promise<ChainPrelude> {
  for (const chainBreak of options.checkpointBreaks) onBreak(chainBreak);
  const [state] = await listChainStates(client, orgId);
  if (state?.haltedAt && options.haltIsBreak) {
    onBreak({
      kind: 'chain_halted',
      orgId,
      chainSeq: state.watermarkSeq,
      rowId: null,
      expected: 'not halted',
      found: `halted at ${state.haltedAt}`,
      message: `the sealer halted this chain at ${state.haltedAt} (${state.haltedReason ?? 'no reason recorded'}): rows after the watermark are not sealed until an operator acts`,
    });
  }
  const snapshot = stateSnapshot(orgId, state, options.checkpoints, onBreak);
  // Against a stand-in state the verifier's head checks would only repeat that the state is gone.
  const standIn = state === undefined && snapshot !== EMPTY_STATE;
  const start = laterStart(await retentionStart(client, orgId, options.checkpoints, options.keyringGiven, onBreak, options.pageSize), options.fromCheckpoint);
  return { snapshot, standIn, start };
}

/** The row verifier's options for a chain after its prelude; its breaks go to `onBreak`. */
export function rowVerification(orgId: string | null, prelude: ChainPrelude, options: OneChainOptions, onBreak: (chainBreak: RunBreak) => void): { input: ChainVerifierOptions; options: VerifyChainOptions } {
  return {
    input: { orgId, state: prelude.snapshot, checkpoints: options.checkpoints, fromCheckpoint: prelude.start, otherOrgIds: options.otherOrgIds },
    options: {
      keepBreaks: 0,
      onBreak: (chainBreak) => {
        if (!(prelude.standIn && chainBreak.kind === 'head_mismatch')) onBreak({ ...chainBreak, orgId });
      },
      onProgress: (progress) => options.onProgress(progress.counts.rows),
    },
  };
}

/**
 * Each page must walk the (org_id, chain_seq) index in order. With statistics
 * that lag a chain's growth the planner may pick a bitmap scan and sort the whole
 * rest of the chain for every page instead, which makes a long chain quadratic.
 * Inside a transaction (set local).
 */
export async function walkChainIndexInOrder(client: Queryable): Promise<void> {
  await client.query('set local enable_bitmapscan = off');
  await client.query('set local enable_seqscan = off');
}

/**
 * The chain state to check against. A chain with signed checkpoints but no
 * state row lost it (deleted, or restored from an older backup): that is a
 * break, and the latest checkpoint stands in for the state so the rows it
 * covers are still checked.
 */
function stateSnapshot(orgId: string | null, state: ChainStateRow | undefined, checkpoints: readonly CheckpointBody[], onBreak: (chainBreak: RunBreak) => void): ChainStateSnapshot {
  if (state) return { watermarkSeq: state.watermarkSeq, headChecksum: state.headChecksum, sealedCount: state.sealedCount };
  const latest = checkpoints.at(-1);
  if (!latest) return EMPTY_STATE;
  onBreak({
    kind: 'head_mismatch',
    orgId,
    chainSeq: latest.chain_seq,
    rowId: null,
    expected: `a chain state at or after chain_seq ${latest.chain_seq}`,
    found: null,
    message: `chain ${chainId(orgId)} has no row in audit_chain_state, but signed checkpoints up to chain_seq ${latest.chain_seq}: the chain state was deleted`,
  });
  return { watermarkSeq: latest.chain_seq, headChecksum: latest.checksum, sealedCount: latest.sealed_count };
}
