// Checkpoints, verification runs, workers and halted chains as JSON records.
import { mergeHistograms, parseWorkerHistogram, type MergedHistogram, type WorkerHistogram } from './histogram.ts';
import type { Queryable } from './snapshot.ts';
import { chainIdOf, num, round3 } from './sql.ts';
import {
  readChainVerifications,
  readHaltedChains,
  readLastFinishedVerification,
  readLatestCheckpoint,
  readRecentWorkers,
  readVerificationSummary,
  readWorkerTotals,
} from './system-queries.ts';
import type {
  ChainVerificationStatus,
  CheckpointRecord,
  HaltedChain,
  LagStatus,
  VerificationRun,
  WorkerInfo,
  WorkersSummary,
} from './types.ts';

export interface CheckpointRow {
  id: string;
  org_id: string | null;
  chain_seq: string;
  sealed_count: string;
  checksum: string;
  signed_at: string;
  age: number;
  key_id: string;
  signature: string;
  body: unknown;
  exported_to: unknown;
  created_at: string;
}

/** A row of audit_chain_checkpoints, of audit_logs (named `table`). */
export function toCheckpointRecord(row: CheckpointRow, table: string): CheckpointRecord {
  return checkpointRecordOf(row, { table, chain: chainIdOf(row.org_id), chain_key: row.org_id, org_id: row.org_id });
}

/** A recorded checkpoint row of any chained table, named by its table and chain. */
export function checkpointRecordOf(
  row: Omit<CheckpointRow, 'org_id' | 'age'>,
  names: Pick<CheckpointRecord, 'table' | 'chain' | 'chain_key' | 'org_id'>,
): CheckpointRecord {
  return {
    id: num(row.id),
    ...names,
    chain_seq: row.chain_seq,
    sealed_count: num(row.sealed_count),
    checksum: row.checksum,
    signed_at: row.signed_at,
    key_id: row.key_id,
    signature: row.signature,
    body: row.body,
    exported_to: row.exported_to ?? null,
    created_at: row.created_at,
  };
}

export async function readLastCheckpoint(db: Queryable): Promise<LagStatus['last_checkpoint']> {
  const row = (await db.query<CheckpointRow & { chain_sealed_count: string | null }>(readLatestCheckpoint())).rows[0];
  if (!row) return null;
  return {
    chain: chainIdOf(row.org_id),
    org_id: row.org_id,
    id: num(row.id),
    chain_seq: row.chain_seq,
    sealed_count: num(row.sealed_count),
    signed_at: row.signed_at,
    age_seconds: round3(row.age),
    key_id: row.key_id,
    rows_since: Math.max(num(row.chain_sealed_count) - num(row.sealed_count), 0),
  };
}

export interface RunRow {
  id: string;
  trigger: string;
  scope: string | null;
  started_at: string;
  finished_at: string | null;
  age: number | null;
  status: string;
  chains_checked: number;
  rows_checked: string;
  breaks_found: number;
  breaks: unknown;
  error: string | null;
}

export function toVerificationRun(row: RunRow): VerificationRun {
  return {
    id: num(row.id),
    trigger: row.trigger,
    scope: row.scope,
    started_at: row.started_at,
    finished_at: row.finished_at,
    status: row.status,
    chains_checked: row.chains_checked,
    rows_checked: num(row.rows_checked),
    breaks_found: row.breaks_found,
    breaks: row.breaks ?? null,
    error: row.error,
  };
}

export async function readLastVerification(db: Queryable): Promise<LagStatus['last_verification']> {
  const row = (await db.query<RunRow>(readLastFinishedVerification())).rows[0];
  return row ? { ...toVerificationRun(row), age_seconds: row.age === null ? null : round3(row.age) } : null;
}

export async function readChainVerificationStatuses(db: Queryable, limit: number): Promise<ChainVerificationStatus[]> {
  const rows = (
    await db.query<{
      org_id: string | null;
      verification_id: string;
      verified_at: string;
      age: number;
      rows_checked: string;
      breaks_found: number;
      first_break: unknown;
    }>(readChainVerifications(limit))
  ).rows;
  return rows.map((row) => ({
    chain: chainIdOf(row.org_id),
    org_id: row.org_id,
    verification_id: num(row.verification_id),
    verified_at: row.verified_at,
    age_seconds: round3(row.age),
    rows_checked: num(row.rows_checked),
    breaks_found: row.breaks_found,
    first_break: row.first_break ?? null,
  }));
}

export async function readVerificationCounts(db: Queryable): Promise<LagStatus['verification']> {
  const row = (await db.query<LagStatus['verification']>(readVerificationSummary())).rows[0];
  return row ?? { chains_verified: 0, chains_with_breaks: 0, breaks: 0 };
}

export async function readHalted(db: Queryable, count: number, limit = 20): Promise<LagStatus['halted']> {
  if (count === 0) return { count: 0, chains: [] };
  const rows = (await db.query<{ org_id: string | null; halted_at: string; halted_reason: string | null }>(readHaltedChains(limit))).rows;
  const chains: HaltedChain[] = rows.map((row) => ({
    chain: chainIdOf(row.org_id),
    org_id: row.org_id,
    halted_at: row.halted_at,
    reason: row.halted_reason,
  }));
  return { count, chains };
}

export interface WorkersReading {
  summary: WorkersSummary;
  latency: MergedHistogram;
}

export async function readWorkers(db: Queryable, staleAfterSeconds: number, goneAfterSeconds: number, limit = 50): Promise<WorkersReading> {
  const totals = (
    await db.query<{ sealed_rows: string; errors: string; alive: number; stale: number; gone: number; last_heartbeat_age: number | null; latencies: unknown[] }>(
      readWorkerTotals(staleAfterSeconds, goneAfterSeconds),
    )
  ).rows[0]!;
  const recent = (
    await db.query<{
      worker_id: string;
      hostname: string;
      pid: number;
      started_at: string;
      heartbeat_at: string;
      heartbeat_age: number;
      stopped_at: string | null;
      sealed_rows: string;
      sealed_batches: string;
      errors: string;
      last_error: string | null;
      last_error_at: string | null;
      horizon_seq: string | null;
    }>(readRecentWorkers(limit))
  ).rows;
  const workers: WorkerInfo[] = recent.map((row) => {
    const state = workerState(row.stopped_at, row.heartbeat_age, staleAfterSeconds, goneAfterSeconds);
    return {
    worker_id: row.worker_id,
    hostname: row.hostname,
    pid: row.pid,
    started_at: row.started_at,
    heartbeat_at: row.heartbeat_at,
    heartbeat_age_seconds: round3(row.heartbeat_age),
    stopped_at: row.stopped_at,
    alive: state === 'alive',
    state,
    sealed_rows: num(row.sealed_rows),
    sealed_batches: num(row.sealed_batches),
    errors: num(row.errors),
    last_error: row.last_error,
    last_error_at: row.last_error_at,
    horizon_seq: row.horizon_seq,
    };
  });
  const histograms = totals.latencies.map(parseWorkerHistogram).filter((h): h is WorkerHistogram => h !== undefined);
  return {
    summary: {
      alive: totals.alive,
      stale: totals.stale,
      gone: totals.gone,
      sealed_rows: num(totals.sealed_rows),
      errors: num(totals.errors),
      last_heartbeat_age_seconds: totals.last_heartbeat_age === null ? null : round3(totals.last_heartbeat_age),
      recent: workers,
    },
    latency: mergeHistograms(histograms),
  };
}

/** The same boundaries as readWorkerTotals' counts. */
export function workerState(stoppedAt: string | null, heartbeatAge: number, staleAfterSeconds: number, goneAfterSeconds: number): WorkerInfo['state'] {
  if (stoppedAt !== null) return 'stopped';
  if (heartbeatAge < staleAfterSeconds) return 'alive';
  return heartbeatAge < goneAfterSeconds ? 'stale' : 'gone';
}
