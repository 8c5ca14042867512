// Running totals of one worker, flushed to its audit_chain_workers row as a
// heartbeat so the lag views (API, metrics, CLI) see every replica.
import type pg from 'pg';

/**
 * Upper bounds (ms) of the seal-latency histogram buckets; the last bucket is
 * +Inf. Up to 6 hours: an open transaction can hold sealing back for minutes
 * or hours, and a histogram that stops at a minute cannot tell those apart.
 */
export const SEAL_LATENCY_BUCKETS_MS = [
  10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000, 7_200_000,
  21_600_000,
] as const;

export class WorkerStats {
  sealedRows = 0;
  sealedBatches = 0;
  errors = 0;
  lastError: string | null = null;
  lastErrorAt: Date | null = null;
  horizonSeq: bigint | null = null;
  readonly latencyCounts: number[] = new Array(SEAL_LATENCY_BUCKETS_MS.length + 1).fill(0);
  latencySumMs = 0;

  recordBatch(sealed: number, latenciesMs: readonly number[]): void {
    this.sealedRows += sealed;
    this.sealedBatches += 1;
    for (const latency of latenciesMs) {
      let bucket = SEAL_LATENCY_BUCKETS_MS.findIndex((bound) => latency <= bound);
      if (bucket === -1) bucket = SEAL_LATENCY_BUCKETS_MS.length;
      this.latencyCounts[bucket]! += 1;
      this.latencySumMs += latency;
    }
  }

  recordError(error: unknown): void {
    this.errors += 1;
    this.lastError = error instanceof Error ? error.message : String(error);
    this.lastErrorAt = new Date();
  }

  latencyJson(): { le: readonly number[]; counts: number[]; sum_ms: number; count: number } {
    return {
      le: SEAL_LATENCY_BUCKETS_MS,
      counts: this.latencyCounts,
      sum_ms: Math.round(this.latencySumMs),
      count: this.latencyCounts.reduce((sum, count) => sum + count, 0),
    };
  }
}

export interface WorkerIdentity {
  workerId: string;
  hostname: string;
  pid: number;
}

export async function writeHeartbeat(pool: pg.Pool, identity: WorkerIdentity, stats: WorkerStats, stopped = false): Promise<void> {
  await pool.query(
    `insert into audit_chain_workers as w
       (worker_id, hostname, pid, heartbeat_at, stopped_at, sealed_rows, sealed_batches, errors, last_error, last_error_at, seal_latency, horizon_seq)
     values ($1, $2, $3, now(), case when $4 then now() end, $5, $6, $7, $8, $9, $10, $11)
     on conflict (worker_id) do update set
       heartbeat_at = now(), stopped_at = excluded.stopped_at, sealed_rows = excluded.sealed_rows,
       sealed_batches = excluded.sealed_batches, errors = excluded.errors, last_error = excluded.last_error,
       last_error_at = excluded.last_error_at, seal_latency = excluded.seal_latency, horizon_seq = excluded.horizon_seq`,
    [
      identity.workerId,
      identity.hostname,
      identity.pid,
      stopped,
      stats.sealedRows,
      stats.sealedBatches,
      stats.errors,
      stats.lastError,
      stats.lastErrorAt,
      JSON.stringify(stats.latencyJson()),
      stats.horizonSeq?.toString() ?? null,
    ],
  );
}
