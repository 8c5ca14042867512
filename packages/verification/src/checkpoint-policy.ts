// When a chain's head is due for a new checkpoint. Pure: the caller reads the
// head and the chain's latest checkpoint and passes the clock.

export interface ChainHead {
  orgId: string | null;
  watermarkSeq: bigint;
  headChecksum: string;
  sealedCount: bigint;
}

export interface LastCheckpoint {
  chainSeq: bigint;
  sealedCount: bigint;
  signedAt: Date;
}

export interface CheckpointPolicy {
  /** Sign when at least this many rows were sealed since the last checkpoint... */
  everyRows: number;
  /** ...or when the head moved and the last checkpoint is at least this old. */
  intervalMs: number;
}

export type CheckpointDecision =
  | { due: true; reason: 'first' | 'rows' | 'interval' | 'requested' }
  | { due: false; reason: 'unchanged' | 'not_yet' | 'regressed' };

/**
 * An unchanged head is never re-signed (its checkpoint still stands), and a head
 * below the last checkpoint is never signed: the watermark went back, which only
 * tampering or a restore can do, and signing it would bless it.
 */
export function checkpointDecision(head: Pick<ChainHead, 'watermarkSeq' | 'sealedCount'>, last: LastCheckpoint | null, now: Date, policy: CheckpointPolicy | 'requested'): CheckpointDecision {
  if (last && head.watermarkSeq < last.chainSeq) return { due: false, reason: 'regressed' };
  if (policy === 'requested') return { due: true, reason: 'requested' };
  if (!last) return { due: true, reason: 'first' };
  if (head.watermarkSeq === last.chainSeq) return { due: false, reason: 'unchanged' };
  if (head.sealedCount - last.sealedCount >= BigInt(policy.everyRows)) return { due: true, reason: 'rows' };
  if (now.getTime() - last.signedAt.getTime() >= policy.intervalMs) return { due: true, reason: 'interval' };
  return { due: false, reason: 'not_yet' };
}
