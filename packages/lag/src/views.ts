// The lag views, each read in one snapshot: the overview (worst chains first),
// one chain, the one-screen status, the metrics snapshot, checkpoints and
// verifications. The admin API, /metrics and the command line all call these.
import type pg from 'pg';
import { readChainsPage, readOneChain } from './chains.ts';
import type { CheckpointCursor, OverviewCursor } from './cursor.ts';
import { encodeCheckpointCursor } from './cursor.ts';
import { describeLatency } from './histogram.ts';
import { readHeldRows, type HeldRows } from './held-rows.ts';
import { readHorizon } from './horizon.ts';
import { readProbeMode } from './probe-mode.ts';
import { resolveOptions, type LagOptions } from './options.ts';
import {
  readChainVerificationStatuses,
  readHalted,
  readLastCheckpoint,
  readLastVerification,
  readVerificationCounts,
  readWorkers,
  toCheckpointRecord,
  toVerificationRun,
  type CheckpointRow,
  type RunRow,
} from './records.ts';
import { withSnapshot, type Queryable } from './snapshot.ts';
import { readCheckpoints, readNow, readRecentVerifications } from './system-queries.ts';
import { readTotals } from './totals.ts';
import type { ChainDetail, ChainLag, CheckpointsPage, HorizonLag, LagOverview, LagStatus, LagTotals, VerificationsPage } from './types.ts';

export const MAX_PAGE = 500;

/** The held rows of this reading: every view of one snapshot counts them once, so its figures add up. */
function heldRowsOf(db: Queryable, horizon: HorizonLag, window: bigint): Promise<HeldRows> {
  return readHeldRows(db, BigInt(horizon.head_seq), BigInt(horizon.discovered_seq), window);
}

export async function getLagOverview(
  pool: pg.Pool,
  page: { limit: number; cursor?: OverviewCursor | undefined },
  options: LagOptions = {},
): Promise<LagOverview> {
  const o = resolveOptions(options);
  return withSnapshot(pool, async (db) => {
    const { generatedAt, horizon } = await readHorizon(db, o.staleAfterSeconds, o.aboveDiscoveredWindow);
    const held = await heldRowsOf(db, horizon, o.aboveDiscoveredWindow);
    const probes = await readProbeMode(db);
    const totals = await readTotals(db, generatedAt, horizon, held, { ...o, probes });
    const chains = await readChainsPage(db, Math.min(page.limit, MAX_PAGE), held, probes, page.cursor);
    return { generated_at: generatedAt, horizon, totals, chains: chains.chains, next_cursor: chains.nextCursor };
  });
}

/** Horizon and totals only: what the API samples for its hour of history. */
export async function getLagTotals(pool: pg.Pool, options: LagOptions = {}): Promise<{ generated_at: string; horizon: HorizonLag; totals: LagTotals }> {
  const o = resolveOptions(options);
  return withSnapshot(pool, async (db) => {
    const { generatedAt, horizon } = await readHorizon(db, o.staleAfterSeconds, o.aboveDiscoveredWindow);
    const held = await heldRowsOf(db, horizon, o.aboveDiscoveredWindow);
    const probes = await readProbeMode(db);
    return { generated_at: generatedAt, horizon, totals: await readTotals(db, generatedAt, horizon, held, { ...o, probes }) };
  });
}

/** One chain (orgId null: the system chain), or undefined when it has no row at all. */
export async function getChainLag(pool: pg.Pool, orgId: string | null, options: LagOptions = {}): Promise<ChainDetail | undefined> {
  const o = resolveOptions(options);
  return withSnapshot(pool, async (db) => {
    const { generatedAt, horizon } = await readHorizon(db, o.staleAfterSeconds, o.aboveDiscoveredWindow);
    const chain = await readOneChain(db, orgId, await heldRowsOf(db, horizon, o.aboveDiscoveredWindow), await readProbeMode(db));
    if (!chain) return undefined;
    const checkpoints = await db.query<CheckpointRow>(readCheckpoints(orgId, 5));
    return { generated_at: generatedAt, horizon, chain, recent_checkpoints: checkpoints.rows.map(toCheckpointRecord) };
  });
}

export async function getLagStatus(pool: pg.Pool, options: LagOptions = {}): Promise<LagStatus> {
  return (await getMetricsSnapshot(pool, 0, options)).status;
}

export interface MetricsSnapshot {
  status: LagStatus;
  /** The worst `topN` chains, as in the overview. */
  top: ChainLag[];
}

/** The status and the worst chains, from one snapshot: what /metrics exports. */
export async function getMetricsSnapshot(pool: pg.Pool, topN: number, options: LagOptions = {}): Promise<MetricsSnapshot> {
  const o = resolveOptions(options);
  return withSnapshot(pool, async (db) => {
    const { generatedAt, horizon } = await readHorizon(db, o.staleAfterSeconds, o.aboveDiscoveredWindow);
    const held = await heldRowsOf(db, horizon, o.aboveDiscoveredWindow);
    const probes = await readProbeMode(db);
    const totals = await readTotals(db, generatedAt, horizon, held, { ...o, probes });
    const workers = await readWorkers(db, o.staleAfterSeconds, o.goneAfterSeconds);
    const status: LagStatus = {
      generated_at: generatedAt,
      horizon,
      totals,
      workers: workers.summary,
      seal_latency: describeLatency(workers.latency),
      last_checkpoint: await readLastCheckpoint(db),
      last_verification: await readLastVerification(db),
      verification: await readVerificationCounts(db),
      halted: await readHalted(db, totals.halted_chains),
    };
    const top = topN > 0 ? (await readChainsPage(db, Math.min(topN, MAX_PAGE), held, probes)).chains : [];
    return { status, top };
  });
}

export async function listCheckpoints(
  pool: pg.Pool,
  page: { orgId?: string | null | undefined; limit: number; cursor?: CheckpointCursor | undefined },
): Promise<CheckpointsPage> {
  return withSnapshot(pool, async (db) => {
    const generatedAt = (await db.query<{ now: string }>(readNow())).rows[0]!.now;
    const limit = Math.min(page.limit, MAX_PAGE);
    const rows = (await db.query<CheckpointRow>(readCheckpoints(page.orgId, limit + 1, page.cursor))).rows;
    const shown = rows.slice(0, limit);
    const last = shown.at(-1);
    return {
      generated_at: generatedAt,
      checkpoints: shown.map(toCheckpointRecord),
      next_cursor: rows.length > limit && last ? encodeCheckpointCursor({ id: BigInt(last.id), chainSeq: BigInt(last.chain_seq) }) : null,
    };
  });
}

export async function listVerifications(pool: pg.Pool, page: { limit: number }): Promise<VerificationsPage> {
  return withSnapshot(pool, async (db) => {
    const generatedAt = (await db.query<{ now: string }>(readNow())).rows[0]!.now;
    const limit = Math.min(page.limit, MAX_PAGE);
    const runs = (await db.query<RunRow>(readRecentVerifications(limit))).rows.map(toVerificationRun);
    return {
      generated_at: generatedAt,
      runs,
      latest_per_chain: await readChainVerificationStatuses(db, limit),
      summary: await readVerificationCounts(db),
    };
  });
}
