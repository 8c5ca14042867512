// A verification run and its record: what the command line and the scheduled
// job both call. The record is written as the run goes (each chain's status
// when the chain is done), and a run that fails is recorded as failed.
import type pg from 'pg';
import type { VerifyRunReport } from './run-types.ts';
import { VerificationRecord, type RecordStart } from './verification-record.ts';
import { verifyChains, type VerifyRunOptions } from './verify-chains.ts';

export interface RecordedRunOptions extends VerifyRunOptions {
  /** null: do not record (e.g. `verify --no-record`). */
  record: RecordStart | null;
}

export interface RecordedRunReport extends VerifyRunReport {
  /** The audit_chain_verifications id, or null when not recorded. */
  verificationId: string | null;
}

export async function runVerification(pool: pg.Pool, options: RecordedRunOptions): Promise<RecordedRunReport> {
  let record: VerificationRecord | null = null;
  const notes: string[] = [];
  if (options.record) {
    const started = await VerificationRecord.start(pool, options.record);
    if (started instanceof VerificationRecord) record = started;
    else notes.push(started.skipped);
  }
  try {
    const report = await verifyChains(pool, {
      ...options,
      onChainDone: async (summary) => {
        await record?.chainDone(summary);
        await options.onChainDone?.(summary);
      },
    });
    await record?.finish(report);
    return { ...report, warnings: [...notes, ...report.warnings], verificationId: record?.id ?? null };
  } catch (error) {
    await record?.fail(error).catch(() => {});
    throw error;
  }
}
