// Resuming a halted chain. A chain halts when sealing finds a broken invariant
// (docs/sealing.md); it must not start sealing again on an operator's word
// alone. resumeChain verifies the whole chain first (links, content, the chain
// state, the signed checkpoints when a keyring is given) and clears the halt
// only when that finds no break, and only if the chain's state is still the
// one verified: the same halt, the same watermark. A chain halted for a reason
// verification cannot see (e.g. a pending row with no canonical form) halts
// again at its next seal, which is what should happen.
import type pg from 'pg';
import { orgMatch } from '@audit-chain/db';
import { runVerification, type RecordedRunReport } from './run-verification.ts';
import type { VerifyRunOptions } from './verify-chains.ts';

export type ResumeOutcome =
  | { status: 'resumed'; halted: HaltRecord; report: RecordedRunReport }
  | { status: 'breaks'; halted: HaltRecord; report: RecordedRunReport }
  | { status: 'changed'; halted: HaltRecord; report: RecordedRunReport }
  | { status: 'not_halted' }
  | { status: 'unknown_chain' };

export interface HaltRecord {
  at: string;
  reason: string | null;
  watermarkSeq: string;
}

export interface ResumeOptions extends Pick<VerifyRunOptions, 'keyring' | 'checkpointSources' | 'onChainStart' | 'onProgress'> {
  orgId: string | null;
  /** Record the verification run in audit_chain_verifications (the default). */
  record?: boolean;
}

export async function resumeChain(pool: pg.Pool, options: ResumeOptions): Promise<ResumeOutcome> {
  const values: unknown[] = [];
  const where = orgMatch('org_id', options.orgId, values);
  const state = (
    await pool.query<{ halted_at: string | null; halted_reason: string | null; watermark_seq: string }>(
      `select halted_at::text, halted_reason, watermark_seq::text from audit_chain_state where ${where}`,
      values,
    )
  ).rows[0];
  if (!state) return { status: 'unknown_chain' };
  if (state.halted_at === null) return { status: 'not_halted' };
  const halted: HaltRecord = { at: state.halted_at, reason: state.halted_reason, watermarkSeq: state.watermark_seq };

  const report = await runVerification(pool, {
    orgId: options.orgId,
    keyring: options.keyring,
    checkpointSources: options.checkpointSources,
    keepBreaks: 20,
    haltIsBreak: false,
    record: options.record === false ? null : { trigger: 'cli', orgId: options.orgId },
    ...(options.onChainStart ? { onChainStart: options.onChainStart } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  if (!report.ok) return { status: 'breaks', halted, report };

  // Compare-and-set on what was verified: a chain halted again, or sealed by
  // someone clearing the halt by hand meanwhile, is not resumed on this run.
  const cleared = await pool.query(
    `update audit_chain_state set halted_at = null, halted_reason = null, updated_at = now()
      where ${where} and halted_at = $${values.length + 1}::timestamptz and watermark_seq = $${values.length + 2}::bigint`,
    [...values, state.halted_at, state.watermark_seq],
  );
  return { status: cleared.rowCount === 1 ? 'resumed' : 'changed', halted, report };
}
