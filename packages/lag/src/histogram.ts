// Seal latency (insert to sealed) as one distribution over all workers. Each
// worker keeps its own histogram in its heartbeat row:
//   { "le": [bounds in ms], "counts": [per bucket, the last one +Inf], "sum_ms", "count" }
// Workers of one release share the bounds; if a rolling upgrade mixes bounds,
// the merge uses the union of the bounds, and a worker's observations count in
// its own bucket's upper bound (so at a bound that worker lacks, the cumulative
// count is a lower bound, the same way Prometheus reads a coarser histogram).
import type { SealLatency } from './types.ts';

export interface WorkerHistogram {
  le: number[];
  counts: number[];
  sum_ms: number;
  count: number;
}

export interface MergedHistogram {
  /** Finite upper bounds in ms, ascending. */
  bounds: number[];
  /** Per bucket (not cumulative), one more than bounds: the last is +Inf. */
  counts: number[];
  sumMs: number;
  count: number;
}

/** The histogram in a heartbeat row, or undefined when it is not in the expected shape. */
export function parseWorkerHistogram(raw: unknown): WorkerHistogram | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { le, counts, sum_ms: sumMs } = raw as Record<string, unknown>;
  if (!Array.isArray(le) || !Array.isArray(counts) || counts.length !== le.length + 1) return undefined;
  if (!le.every((bound, i) => typeof bound === 'number' && Number.isFinite(bound) && (i === 0 || bound > (le[i - 1] as number)))) return undefined;
  if (!counts.every((count) => typeof count === 'number' && Number.isFinite(count) && count >= 0)) return undefined;
  const total = (counts as number[]).reduce((sum, count) => sum + count, 0);
  return { le: le as number[], counts: counts as number[], sum_ms: typeof sumMs === 'number' ? sumMs : 0, count: total };
}

export function mergeHistograms(histograms: readonly WorkerHistogram[]): MergedHistogram {
  const bounds = [...new Set(histograms.flatMap((h) => h.le))].sort((a, b) => a - b);
  const counts = new Array<number>(bounds.length + 1).fill(0);
  let sumMs = 0;
  let count = 0;
  for (const h of histograms) {
    h.counts.forEach((n, i) => {
      const bound = h.le[i];
      const target = bound === undefined ? bounds.length : bounds.indexOf(bound);
      counts[target]! += n;
    });
    sumMs += h.sum_ms;
    count += h.count;
  }
  return { bounds, counts, sumMs, count };
}

/** Cumulative buckets and quantile estimates for the JSON views. */
export function describeLatency(merged: MergedHistogram): SealLatency {
  let running = 0;
  const buckets = merged.counts.map((n, i) => {
    running += n;
    return { le_ms: merged.bounds[i] ?? null, count: running };
  });
  return {
    buckets,
    count: merged.count,
    sum_ms: merged.sumMs,
    p50_ms: quantile(merged, 0.5),
    p95_ms: quantile(merged, 0.95),
    p99_ms: quantile(merged, 0.99),
  };
}

/**
 * Linear interpolation inside the bucket holding the q-th observation, as
 * Prometheus' histogram_quantile does; in the +Inf bucket the answer is the
 * highest finite bound (all that is known is "more than that").
 */
export function quantile(merged: MergedHistogram, q: number): number | null {
  if (merged.count === 0) return null;
  const rank = q * merged.count;
  let below = 0;
  for (let i = 0; i < merged.counts.length; i += 1) {
    const inBucket = merged.counts[i]!;
    if (below + inBucket >= rank && inBucket > 0) {
      const upper = merged.bounds[i];
      if (upper === undefined) return merged.bounds.at(-1) ?? null;
      const lower = i === 0 ? 0 : merged.bounds[i - 1]!;
      return Math.round((lower + ((upper - lower) * (rank - below)) / inBucket) * 1000) / 1000;
    }
    below += inBucket;
  }
  return merged.bounds.at(-1) ?? null;
}
