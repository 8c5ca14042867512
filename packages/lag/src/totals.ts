// Totals over every chain: pending rows (counted per chain, plus what lies above
// the discovered position), sealed rows, halted chains, the oldest pending row
// and throughput.
import type { Queryable } from './snapshot.ts';
import type { SealedSample } from './options.ts';
import {
  readChainTotals,
  readFirstPendingOfChain,
  readOldestPendingOfChains,
  readPendingCandidates,
  type ChainTotalsRow,
  type OldestPendingRow,
  type ProbeMode,
} from './chain-queries.ts';
import { heldArrays, type HeldRows } from './held-rows.ts';
import { chainIdOf, num, round3 } from './sql.ts';
import type { HorizonLag, LagTotals, OldestPending, Throughput } from './types.ts';

export interface TotalsOptions {
  oldestProbeChains: number;
  probes: ProbeMode;
  aboveDiscoveredWindow: bigint;
  previous?: SealedSample | ((generatedAt: string) => SealedSample | undefined) | undefined;
}

export async function readTotals(
  db: Queryable,
  generatedAt: string,
  horizon: HorizonLag,
  held: HeldRows,
  options: TotalsOptions,
): Promise<LagTotals> {
  const sums = (await db.query<ChainTotalsRow>(readChainTotals(heldArrays(held)))).rows[0]!;
  const head = BigInt(horizon.head_seq);
  const discovered = BigInt(horizon.discovered_seq);
  const above = head > discovered ? head - discovered : 0n;
  const pendingDiscovered = num(sums.pending_discovered);
  const discoveredChains = num(sums.chains_with_discovered_pending);

  let oldestOfChains: OldestPendingRow | undefined;
  if (pendingDiscovered > 0) {
    oldestOfChains =
      options.probes === 'lateral'
        ? (await db.query<OldestPendingRow>(readOldestPendingOfChains(options.oldestProbeChains))).rows[0]
        : await probeOldestOfChains(db, options.oldestProbeChains);
  }
  const first = held.first;
  const aboveRow: OldestPendingRow | undefined = first && { org_id: first.org_id, chain_seq: first.first_seq, recorded_at: first.first_recorded_at, age: first.first_age };
  // The probe covers the `oldestProbeChains` longest-waiting chains with
  // discovered pending rows; more than that may hide an older row.
  const exact =
    discoveredChains <= options.oldestProbeChains &&
    (above <= options.aboveDiscoveredWindow || aboveRow !== undefined);

  const sealedRows = num(sums.sealed);
  return {
    chains: num(sums.chains),
    chains_with_pending: num(sums.chains_with_pending),
    pending_rows: pendingDiscovered + held.rows + held.unattributed,
    pending_rows_discovered: pendingDiscovered,
    held_rows: held.rows,
    pending_unattributed: held.unattributed,
    pending_above_discovered: Number(above),
    sealed_rows: sealedRows,
    oldest_pending: oldestOf([oldestOfChains, aboveRow], exact),
    halted_chains: num(sums.halted),
    throughput: measureThroughput(options.previous, { sealed_rows: sealedRows, at: generatedAt }),
  };
}

/** ProbeMode 'separate': the candidates from the chain tables, then one probe of audit_logs each; the oldest row found. */
async function probeOldestOfChains(db: Queryable, limit: number): Promise<OldestPendingRow | undefined> {
  const candidates = (await db.query<{ org_id: string | null; watermark_seq: string }>(readPendingCandidates(limit))).rows;
  let oldest: OldestPendingRow | undefined;
  for (const candidate of candidates) {
    const first = (await db.query<{ chain_seq: string; recorded_at: string; age: number }>(readFirstPendingOfChain(candidate.org_id, candidate.watermark_seq))).rows[0];
    if (!first) continue;
    const row = { org_id: candidate.org_id, ...first };
    // As the lateral query's order: recorded_at, then chain_seq.
    if (!oldest || row.age > oldest.age || (row.age === oldest.age && BigInt(row.chain_seq) < BigInt(oldest.chain_seq))) oldest = row;
  }
  return oldest;
}

function oldestOf(rows: (OldestPendingRow | undefined)[], exact: boolean): OldestPending | null {
  const found = rows.filter((row): row is OldestPendingRow => row !== undefined);
  if (found.length === 0) return null;
  const oldest = found.reduce((a, b) => (b.age > a.age ? b : a));
  return {
    chain: chainIdOf(oldest.org_id),
    org_id: oldest.org_id,
    chain_seq: oldest.chain_seq,
    recorded_at: oldest.recorded_at,
    age_seconds: round3(oldest.age),
    exact,
  };
}

function measureThroughput(previous: TotalsOptions['previous'], current: SealedSample): Throughput | null {
  const earlier = typeof previous === 'function' ? previous(current.at) : previous;
  return earlier ? throughput(earlier, current) : null;
}

/** Rows sealed per second between two readings of the sealed-row total; null when they are not in time order. */
export function throughput(previous: SealedSample, current: SealedSample): Throughput | null {
  const seconds = (Date.parse(current.at) - Date.parse(previous.at)) / 1000;
  if (!(seconds > 0)) return null;
  return {
    rows_per_second: round3(Math.max(current.sealed_rows - previous.sealed_rows, 0) / seconds),
    window_seconds: round3(seconds),
    method: 'sealed_count_delta',
  };
}
