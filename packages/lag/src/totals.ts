// Totals over every chain of every chained table: pending rows (counted per
// chain, plus what lies above the discovered position or an attached table's
// horizon), sealed rows, halted chains, drifted tables, the oldest pending row
// and throughput. Each table's own figures (TableLag) sum to these.
import type { Queryable } from './snapshot.ts';
import type { SealedSample } from './options.ts';
import { readChainTotals, readOldestPendingOfChains, type ChainTotalsRow, type OldestPendingRow } from './chain-queries.ts';
import type { HeldRows } from './held-rows.ts';
import { isOlder, type AttachedTableReading } from './attached-lag.ts';
import type { OwnTable } from './chains.ts';
import { chainIdOf, num, round3 } from './sql.ts';
import type { HorizonLag, LagTotals, OldestPending, TableLag, Throughput } from './types.ts';

export interface TotalsOptions {
  oldestProbeChains: number;
  aboveDiscoveredWindow: bigint;
  previous?: SealedSample | ((generatedAt: string) => SealedSample | undefined) | undefined;
}

export interface TotalsReading {
  totals: LagTotals;
  /** audit_logs first, then the attached tables. */
  tables: TableLag[];
}

/** The totals over audit_logs and the attached tables (already read), with each table's own figures. */
export async function readTotals(
  db: Queryable,
  generatedAt: string,
  horizon: HorizonLag,
  held: HeldRows,
  options: TotalsOptions,
  own: OwnTable,
  attached: readonly AttachedTableReading[],
): Promise<TotalsReading> {
  const mine = await readOwnTotals(db, horizon, held, options, own);
  const tables = [ownTableLag(own, horizon, mine), ...attached.map((reading) => reading.lag)];
  const sum = (value: (table: TableLag) => number) => tables.reduce((total, table) => total + value(table), 0);
  let oldest = mine.oldest_pending;
  for (const reading of attached) {
    const candidate = reading.oldest;
    if (candidate && candidate.recorded_at !== null && (oldest === null || isOlder(candidate, oldest))) oldest = { ...candidate, exact: mine.oldest_pending?.exact ?? true };
  }
  const sealedRows = sum((t) => t.sealed_rows);
  return {
    tables,
    totals: {
      chains: sum((t) => t.chains),
      chains_with_pending: sum((t) => t.chains_with_pending),
      pending_rows: sum((t) => t.pending_rows),
      pending_rows_discovered: sum((t) => t.pending_rows_discovered),
      held_rows: sum((t) => t.held_rows),
      pending_unattributed: sum((t) => t.pending_unattributed),
      pending_above_discovered: sum((t) => t.held_rows + t.pending_unattributed),
      sealed_rows: sealedRows,
      oldest_pending: oldest,
      halted_chains: mine.halted_chains,
      drifted_tables: attached.filter((reading) => reading.lag.status === 'drifted').length,
      throughput: measureThroughput(options.previous, { sealed_rows: sealedRows, at: generatedAt }),
    },
  };
}

/** audit_logs as one of the chained tables. */
function ownTableLag(own: OwnTable, horizon: HorizonLag, totals: LagTotals): TableLag {
  return {
    table: own.name,
    format_version: 1,
    chain_key_column: 'org_id',
    status: 'attached',
    drift: null,
    head_seq: horizon.head_seq,
    horizon_seq: horizon.horizon_seq,
    horizon_at: horizon.horizon_at,
    held_seconds: horizon.held_seconds,
    state: horizon.state,
    holders: horizon.holders,
    chains: totals.chains,
    chains_with_pending: totals.chains_with_pending,
    pending_rows: totals.pending_rows,
    pending_rows_discovered: totals.pending_rows_discovered,
    held_rows: totals.held_rows,
    pending_unattributed: totals.pending_unattributed,
    sealed_rows: totals.sealed_rows,
  };
}

async function readOwnTotals(db: Queryable, horizon: HorizonLag, held: HeldRows, options: TotalsOptions, own: OwnTable): Promise<LagTotals> {
  const sums = (await db.query<ChainTotalsRow>(readChainTotals())).rows[0]!;
  // Chains listed from their held rows alone, and chains pending only by their held rows.
  if (!held.states) throw new Error('readTotals needs the held chains\' states (readHeldChainStates)');
  let heldOnly = 0;
  let pendingOnlyHeld = 0;
  for (const chain of held.chains) {
    const state = held.states.get(chain.chain_key);
    if (!state?.known) heldOnly += 1;
    if (!state || state.discovered === 0) pendingOnlyHeld += 1;
  }
  const head = BigInt(horizon.head_seq);
  const discovered = BigInt(horizon.discovered_seq);
  const above = head > discovered ? head - discovered : 0n;
  const pendingDiscovered = num(sums.pending_discovered);
  const discoveredChains = num(sums.chains_with_discovered_pending);

  let oldestOfChains: OldestPendingRow | undefined;
  if (pendingDiscovered > 0) {
    oldestOfChains = (await db.query<OldestPendingRow>(readOldestPendingOfChains(options.oldestProbeChains))).rows[0];
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
    chains: num(sums.chains) + heldOnly,
    chains_with_pending: discoveredChains + pendingOnlyHeld,
    pending_rows: pendingDiscovered + held.rows + held.unattributed,
    pending_rows_discovered: pendingDiscovered,
    held_rows: held.rows,
    pending_unattributed: held.unattributed,
    pending_above_discovered: Number(above),
    sealed_rows: sealedRows,
    oldest_pending: oldestOf([oldestOfChains, aboveRow], exact, own.name),
    halted_chains: num(sums.halted),
    drifted_tables: 0,
    throughput: null,
  };
}

function oldestOf(rows: (OldestPendingRow | undefined)[], exact: boolean, table: string): OldestPending | null {
  const found = rows.filter((row): row is OldestPendingRow => row !== undefined);
  if (found.length === 0) return null;
  const oldest = found.reduce((a, b) => (b.age > a.age ? b : a));
  return {
    table,
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
