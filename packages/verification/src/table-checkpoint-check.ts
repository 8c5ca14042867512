// One attached chain against its trusted checkpoints (version 2), as the chain
// is walked in chain_seq order. Pure: it is fed the rows and reports breaks,
// with the same kinds and rules as audit_logs' verifier (docs/chain-format.md
// section 8): the row at a checkpoint's chain_seq must exist and carry its
// checksum, the rows up to it must number its sealed_count, the chain must not
// end before a checkpoint, and the chain state must not be below the latest.
// A chain that retention cut starts after the cut: checkpoints at or below the
// cut's chain_seq covered rows the cut deleted (the cut is itself vouched for by
// its own signed checkpoint, checked by the caller), and rows are counted from
// the cut's sealed_count.
import type { TableCheckpointBody } from '@audit-chain/chain';

export type TableCheckpointBreakKind = 'checkpoint_mismatch' | 'tail_truncated' | 'head_mismatch';

export type ReportTableBreak = (kind: TableCheckpointBreakKind, chainSeq: string | null, message: string) => void;

export class TableCheckpointCheck {
  private next = 0;
  /** Rows of the chain read so far, counted from its first. */
  private position = 0n;
  private lastSeq: bigint | null = null;
  private readonly checkpoints: readonly TableCheckpointBody[];
  private readonly report: ReportTableBreak;

  /**
   * `checkpoints`: this chain's trusted checkpoints, in chain_seq order.
   * `cut`: the chain's latest retention cut, if any (its chain_seq and the sealed rows up to it).
   */
  constructor(checkpoints: readonly TableCheckpointBody[], report: ReportTableBreak, cut: { seq: bigint; sealedCount: bigint } | null = null) {
    this.checkpoints = cut ? checkpoints.filter((checkpoint) => BigInt(checkpoint.chain_seq) > cut.seq) : checkpoints;
    this.report = report;
    if (cut) this.position = cut.sealedCount;
  }

  /** Each row of the chain, in chain_seq order (sealed or not). */
  row(seq: bigint, checksum: string | null): void {
    this.position += 1n;
    this.lastSeq = seq;
    for (let checkpoint = this.checkpoints[this.next]; checkpoint && BigInt(checkpoint.chain_seq) < seq; checkpoint = this.checkpoints[this.next]) {
      this.next += 1;
      this.report(
        'checkpoint_mismatch',
        checkpoint.chain_seq,
        `no row of the chain at checkpoint chain_seq ${checkpoint.chain_seq} (signed ${checkpoint.signed_at} by ${checkpoint.key_id}; the chain's next row is chain_seq ${seq}): the checkpointed row was deleted or moved`,
      );
    }
    for (let checkpoint = this.checkpoints[this.next]; checkpoint && BigInt(checkpoint.chain_seq) === seq; checkpoint = this.checkpoints[this.next]) {
      this.next += 1;
      const count = BigInt(checkpoint.sealed_count);
      if (checksum !== checkpoint.checksum) {
        this.report(
          'checkpoint_mismatch',
          checkpoint.chain_seq,
          `the row at checkpoint chain_seq ${checkpoint.chain_seq} (signed ${checkpoint.signed_at} by ${checkpoint.key_id}) has ${checksum === null ? 'no checksum' : `checksum ${checksum}, the checkpoint signed ${checkpoint.checksum}`}: history was rewritten${count === this.position ? '' : `; also ${this.position} rows up to it, the checkpoint signed ${count}`}`,
        );
      } else if (count !== this.position) {
        this.report(
          'checkpoint_mismatch',
          checkpoint.chain_seq,
          `${this.position} rows of the chain up to checkpoint chain_seq ${checkpoint.chain_seq}, the checkpoint (signed ${checkpoint.signed_at} by ${checkpoint.key_id}) signed ${count}: rows were deleted or inserted before it`,
        );
      }
    }
  }

  /** After the last row. `state`: the chain's audit_chain_table_state row, if any. */
  end(state: { watermarkSeq: bigint; sealedCount: bigint | null } | null): void {
    const beyond = this.checkpoints.slice(this.next);
    this.next = this.checkpoints.length;
    const last = beyond.at(-1);
    if (last) {
      this.report(
        'tail_truncated',
        last.chain_seq,
        `the chain ends at chain_seq ${this.lastSeq ?? '(no rows)'}, but ${beyond.length} signed checkpoint(s), up to chain_seq ${last.chain_seq} with sealed_count ${last.sealed_count} (signed ${last.signed_at} by ${last.key_id}), cover rows beyond it: the tail was deleted`,
      );
    }
    const latest = this.checkpoints.at(-1);
    if (!latest) return;
    if (state === null) {
      this.report('head_mismatch', latest.chain_seq, `the chain has no row in audit_chain_table_state, but signed checkpoints up to chain_seq ${latest.chain_seq}: the chain state was deleted`);
      return;
    }
    if (state.watermarkSeq < BigInt(latest.chain_seq)) {
      this.report(
        'head_mismatch',
        latest.chain_seq,
        `the chain state's watermark ${state.watermarkSeq} is below the trusted checkpoint's chain_seq ${latest.chain_seq} (signed ${latest.signed_at} by ${latest.key_id}): the watermark went back`,
      );
    } else if (state.sealedCount !== null && state.sealedCount < BigInt(latest.sealed_count)) {
      this.report(
        'head_mismatch',
        latest.chain_seq,
        `the chain state counts ${state.sealedCount} sealed rows, fewer than the ${latest.sealed_count} of the trusted checkpoint at chain_seq ${latest.chain_seq}: the chain state went back`,
      );
    }
  }
}
