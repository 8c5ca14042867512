// The shared progress row: the safe horizon any process has proven, and how far
// discovery has counted rows into chains.
import type pg from 'pg';
import { withTransaction } from '@audit-chain/db';
import { advanceDiscovered, countDiscoveredRows, readNextChainSeq, readProgress, recordHorizon } from './queries.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

export interface Progress {
  horizonSeq: bigint;
  discoveredSeq: bigint;
  horizonAt: Date | null;
  discoveredAt: Date | null;
}

export async function getProgress(db: Queryable): Promise<Progress> {
  const result = await db.query<{ horizon_seq: string; discovered_seq: string; horizon_at: Date | null; discovered_at: Date | null }>(
    readProgress(),
  );
  const row = result.rows[0];
  if (!row) throw new Error('audit_chain_progress has no row: run `audit-chain migrate`');
  return {
    horizonSeq: BigInt(row.horizon_seq),
    discoveredSeq: BigInt(row.discovered_seq),
    horizonAt: row.horizon_at,
    discoveredAt: row.discovered_at,
  };
}

/** Publishes a proven horizon; the stored one only moves forward. Returns the stored value. */
export async function publishHorizon(db: Queryable, horizon: bigint): Promise<bigint> {
  const result = await db.query<{ horizon_seq: string }>(recordHorizon(horizon));
  return BigInt(result.rows[0]?.horizon_seq ?? '0');
}

export interface DiscoveryResult {
  fromSeq: bigint;
  toSeq: bigint;
  chains: number;
  newChains: number;
}

/**
 * Counts the rows between the discovery position and the published horizon into
 * per-chain figures, at most `maxSpan` chain_seq values per call. Reads go
 * through the BRIN index on chain_seq: the tail of the table, never all of it.
 * A span with no rows jumps straight to the next row below the horizon (one
 * more read of that tail), so a gap of any size in chain_seq (a sequence moved
 * by setval, a huge rollback) costs one step, not one step per `maxSpan` values.
 * Returns null when there was nothing to do or another process got there first.
 */
export async function discoverPendingRows(pool: pg.Pool, maxSpan: bigint): Promise<DiscoveryResult | null> {
  return withTransaction(pool, async (client) => {
    const progress = await getProgress(client);
    const limit = progress.discoveredSeq + maxSpan;
    const toSeq = progress.horizonSeq < limit ? progress.horizonSeq : limit;
    if (toSeq <= progress.discoveredSeq) return null;
    // The compare-and-set comes first: it locks the progress row, so a second
    // discoverer waits here and then finds the position moved.
    const moved = await client.query(advanceDiscovered(progress.discoveredSeq, toSeq));
    if (moved.rowCount !== 1) return null;
    const counted = await client.query<{ chains: number; new_chains: number }>(countDiscoveredRows(progress.discoveredSeq, toSeq));
    let reached = toSeq;
    if ((counted.rows[0]?.chains ?? 0) === 0 && toSeq < progress.horizonSeq) {
      // Nothing in this span: every value up to the next row is a gap. The progress row is ours (locked above).
      const next = (await client.query<{ next_seq: string | null }>(readNextChainSeq(toSeq, progress.horizonSeq))).rows[0]?.next_seq ?? null;
      const gapEnd = next === null ? progress.horizonSeq : BigInt(next) - 1n;
      if (gapEnd > toSeq) {
        await client.query(advanceDiscovered(toSeq, gapEnd));
        reached = gapEnd;
      }
    }
    return {
      fromSeq: progress.discoveredSeq,
      toSeq: reached,
      chains: counted.rows[0]?.chains ?? 0,
      newChains: counted.rows[0]?.new_chains ?? 0,
    };
  });
}
