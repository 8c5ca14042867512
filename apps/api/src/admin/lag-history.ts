// An hour of lag history for the admin page's chart, sampled by this API
// process into memory. It starts empty whenever the process starts, and each
// API replica keeps its own; Prometheus (/metrics) is the durable history.
// The samples also give the admin views their throughput figure.
import type { FastifyBaseLogger } from 'fastify';
import type { Pool } from '@audit-chain/db';
import { getLagTotals, type SealedSample } from '@audit-chain/lag';

export interface LagSample {
  at: string;
  pending_rows: number;
  oldest_pending_age_seconds: number | null;
  sealed_rows: number;
  horizon_lag_seq: number;
  horizon_held_seconds: number;
}

export interface LagHistoryOptions {
  pool: Pool;
  intervalMs: number;
  windowMs?: number;
  log: FastifyBaseLogger;
}

/** Throughput is measured against the newest sample at least this old. */
const THROUGHPUT_WINDOW_MS = 60_000;

export class LagHistory {
  readonly intervalMs: number;
  readonly #options: LagHistoryOptions;
  readonly #capacity: number;
  #samples: LagSample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #failing = false;

  constructor(options: LagHistoryOptions) {
    this.#options = options;
    this.intervalMs = options.intervalMs;
    this.#capacity = Math.ceil((options.windowMs ?? 3_600_000) / options.intervalMs) + 1;
  }

  start(): void {
    if (this.#timer) return;
    void this.sampleNow();
    this.#timer = setInterval(() => void this.sampleNow(), this.intervalMs);
    // The sampler never keeps the process alive on its own.
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
  }

  /** Takes one sample now (skipped when the previous one is still running). */
  sampleNow(): Promise<void> {
    this.#inFlight ??= this.#sample().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  samples(): LagSample[] {
    return [...this.#samples];
  }

  /** The earlier reading to measure throughput against: the newest sample a minute old, else the oldest one. */
  previousFor(nowIso: string): SealedSample | undefined {
    const now = Date.parse(nowIso);
    const older = this.#samples.filter((sample) => Date.parse(sample.at) < now);
    const chosen = older.findLast((sample) => now - Date.parse(sample.at) >= THROUGHPUT_WINDOW_MS) ?? older[0];
    return chosen ? { sealed_rows: chosen.sealed_rows, at: chosen.at } : undefined;
  }

  async #sample(): Promise<void> {
    try {
      const { generated_at, horizon, totals } = await getLagTotals(this.#options.pool);
      this.#samples.push({
        at: generated_at,
        pending_rows: totals.pending_rows,
        oldest_pending_age_seconds: totals.oldest_pending?.age_seconds ?? null,
        sealed_rows: totals.sealed_rows,
        horizon_lag_seq: Number(horizon.lag_seq),
        horizon_held_seconds: horizon.held_seconds,
      });
      if (this.#samples.length > this.#capacity) this.#samples.splice(0, this.#samples.length - this.#capacity);
      if (this.#failing) this.#options.log.info('lag sampling recovered');
      this.#failing = false;
    } catch (error) {
      // Logged once per outage, not every interval.
      if (!this.#failing) this.#options.log.warn({ err: error }, 'lag sampling failed; the admin chart has a gap until it recovers');
      this.#failing = true;
    }
  }
}
