// One pass of the pipeline for every chain: prove the horizon, count newly safe
// rows into chains, seal the chains that are behind. The worker runs the stages
// on its own loop and through pg-boss; `audit-chain seal --once` runs this.
import type pg from 'pg';
import { HorizonTracker, type OpenWriter } from './horizon.ts';
import { discoverPendingRows, getProgress, publishHorizon } from './progress.ts';
import { listChainsToSeal } from './queries.ts';
import { ChainInvariantError } from './errors.ts';
import { sealChain, type SealChainResult } from './seal-chain.ts';

export interface HorizonStepResult {
  horizon: bigint;
  head: bigint;
  holders: OpenWriter[];
}

/** Takes a probe, publishes what is proven, then counts newly safe rows into chains. */
export async function advanceHorizonAndDiscover(
  pool: pg.Pool,
  tracker: HorizonTracker,
  maxSpan = 500_000n,
): Promise<HorizonStepResult> {
  const client = await pool.connect();
  let reading;
  try {
    reading = await tracker.advance(client);
    if (reading.horizon > 0n) await publishHorizon(client, reading.horizon);
  } finally {
    client.release();
  }
  while ((await discoverPendingRows(pool, maxSpan)) !== null) {
    // keep counting until discovery reaches the published horizon
  }
  const published = (await getProgress(pool)).horizonSeq;
  return { horizon: published > reading.horizon ? published : reading.horizon, head: reading.head, holders: reading.holders };
}

export interface ChainToSeal {
  orgId: string | null;
  watermarkSeq: bigint;
  seenSeq: bigint;
}

export async function chainsToSeal(pool: pg.Pool, limit = 1000): Promise<ChainToSeal[]> {
  const result = await pool.query<{ org_id: string | null; watermark_seq: string; seen_seq: string }>(listChainsToSeal(limit));
  return result.rows.map((row) => ({ orgId: row.org_id, watermarkSeq: BigInt(row.watermark_seq), seenSeq: BigInt(row.seen_seq) }));
}

export interface SealOnceOptions {
  batchSize: number;
  /** How long to wait for open audit writers to finish before sealing what is safe already. */
  waitMs: number;
  pollMs: number;
  /** Chains sealed at once (default 1), each on its own connections; the most behind start first. */
  concurrency?: number;
  /** Format new rows are sealed under (default 2); 1 only for comparisons and tests of v1 chains. */
  formatVersion?: 1 | 2;
  onChain?: (result: SealChainResult) => void;
}

export interface SealOnceResult {
  horizon: bigint;
  head: bigint;
  /** Writers still open when waiting stopped: rows above the horizon wait for them. */
  holders: OpenWriter[];
  chains: SealChainResult[];
  sealed: number;
  /** Chains whose sealing found a broken invariant in this run (now halted). */
  broken: ChainInvariantError[];
}

/** Seals everything that is safe to seal now, and returns what it did. */
export async function sealOnce(pool: pg.Pool, options: SealOnceOptions): Promise<SealOnceResult> {
  const tracker = new HorizonTracker();
  const deadline = Date.now() + options.waitMs;
  let step = await advanceHorizonAndDiscover(pool, tracker);
  const target = step.head;
  while (step.horizon < target && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, options.pollMs));
    step = await advanceHorizonAndDiscover(pool, tracker);
  }
  const chains: SealChainResult[] = [];
  const broken: ChainInvariantError[] = [];
  const queue = await chainsToSeal(pool, Number.MAX_SAFE_INTEGER);
  // Any other error stops every lane before its next chain, and is raised once all have stopped.
  let failure: { error: unknown } | null = null;
  const lane = async () => {
    for (let chain = queue.shift(); chain !== undefined && failure === null; chain = queue.shift()) {
      try {
        const result = await sealChain(pool, chain.orgId, { batchSize: options.batchSize, formatVersion: options.formatVersion });
        chains.push(result);
        options.onChain?.(result);
      } catch (error) {
        // The chain is halted by sealChain; the others still get sealed.
        if (error instanceof ChainInvariantError) broken.push(error);
        else failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, lane));
  if (failure !== null) throw (failure as { error: unknown }).error;
  return {
    horizon: step.horizon,
    head: step.head,
    holders: step.horizon < step.head ? step.holders : [],
    chains,
    sealed: chains.reduce((sum, chain) => sum + chain.sealed, 0),
    broken,
  };
}
