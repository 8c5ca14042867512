// The lag views, each read in one snapshot: the overview (worst chains of every
// chained table first), one chain, the one-screen status, the metrics
// snapshot, checkpoints and verifications. The admin API, /metrics and the
// command line all call these.
import type pg from 'pg';
import { readAttachedTables, type AttachedTableReading } from './attached-lag.ts';
import { fillTableCheckpoints, type AttachedChainRef } from './table-checkpoints.ts';
import { mergePage } from './chain-order.ts';
import { readChainsPage, readOneChain, type OwnTable } from './chains.ts';
import type { CheckpointCursor, OverviewCursor } from './cursor.ts';
import { encodeCheckpointCursor } from './cursor.ts';
import { describeLatency } from './histogram.ts';
import { readHeldChainStates, readHeldRows, type HeldRows } from './held-rows.ts';
import { readHorizon } from './horizon.ts';
import { readProbeMode } from './probe-mode.ts';
import type { ProbeMode } from './chain-queries.ts';
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
import { readTotals, type TotalsReading } from './totals.ts';
import type { ChainDetail, ChainLag, CheckpointsPage, HorizonLag, LagOverview, LagStatus, LagTotals, TableLag, VerificationsPage } from './types.ts';

export const MAX_PAGE = 500;

/**
 * The held rows of this reading, with their chains' states: every view of one
 * snapshot counts them once, so its figures add up.
 */
async function heldRowsOf(db: Queryable, horizon: HorizonLag, window: bigint): Promise<HeldRows> {
  return readHeldChainStates(db, await readHeldRows(db, BigInt(horizon.head_seq), BigInt(horizon.discovered_seq), window));
}

/** audit_logs' name and registry id (0 when it is not registered: it then sorts before every attached table). */
export async function readOwnTable(db: Queryable): Promise<OwnTable> {
  const row = (
    await db.query<{ name: string; id: number | null }>(
      `select n.nspname || '.' || c.relname as name,
              (select t.id from audit_chain_tables t where t.schema_name = n.nspname and t.table_name = c.relname) as id
         from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = 'audit_logs'::regclass`,
    )
  ).rows[0]!;
  return { name: row.name, id: row.id ?? 0 };
}

/** Everything the overview, the status and /metrics share: horizon, held rows, every table's figures and the totals. */
interface Reading extends TotalsReading {
  generatedAt: string;
  horizon: HorizonLag;
  held: HeldRows;
  own: OwnTable;
  attached: AttachedTableReading[];
  probes: ProbeMode;
}

async function readAll(db: Queryable, o: ReturnType<typeof resolveOptions>): Promise<Reading> {
  // When the horizon is the discovered position (the usual case), the held rows
  // above it are the rows above the horizon: one range read gives both the
  // held rows and the oldest row waiting behind the horizon.
  let counted: HeldRows | undefined;
  const { generatedAt, horizon } = await readHorizon(db, o.staleAfterSeconds, o.aboveDiscoveredWindow, async (horizonSeq, discoveredSeq, head) => {
    if (horizonSeq !== discoveredSeq) return null;
    counted = await readHeldRows(db, head, discoveredSeq, o.aboveDiscoveredWindow);
    return counted.first?.first_age;
  });
  const held = counted ? await readHeldChainStates(db, counted) : await heldRowsOf(db, horizon, o.aboveDiscoveredWindow);
  const own = await readOwnTable(db);
  const attached = await readAttachedTables(db, horizon.workers_alive);
  const probes = await readProbeMode(db);
  const { totals, tables } = await readTotals(db, generatedAt, horizon, held, { ...o, probes }, own, attached);
  return { generatedAt, horizon, held, own, attached, totals, tables, probes };
}

/** The worst chains of every table after `cursor`: audit_logs' page merged with the attached tables' chains. */
async function readWorstChains(db: Queryable, reading: Reading, limit: number, cursor?: OverviewCursor): Promise<{ chains: ChainLag[]; nextCursor: string | null }> {
  const own = await readChainsPage(db, limit, reading.held, reading.own, cursor, reading.probes);
  const page = mergePage([own, ...reading.attached.map((table) => table.chains)], limit, cursor);
  // The attached chains shown get their latest checkpoint: one query for the page.
  const tableOf = new Map<ChainLag, number>();
  for (const table of reading.attached) for (const chain of table.chains) tableOf.set(chain.lag, table.tableId);
  const attached: AttachedChainRef[] = [];
  for (const lag of page.chains) {
    const tableId = tableOf.get(lag);
    if (tableId !== undefined) attached.push({ lag, tableId });
  }
  await fillTableCheckpoints(db, attached);
  return page;
}

export async function getLagOverview(
  pool: pg.Pool,
  page: { limit: number; cursor?: OverviewCursor | undefined },
  options: LagOptions = {},
): Promise<LagOverview> {
  const o = resolveOptions(options);
  return withSnapshot(pool, async (db) => {
    const reading = await readAll(db, o);
    const chains = await readWorstChains(db, reading, Math.min(page.limit, MAX_PAGE), page.cursor);
    return { generated_at: reading.generatedAt, horizon: reading.horizon, totals: reading.totals, tables: reading.tables, chains: chains.chains, next_cursor: chains.nextCursor };
  });
}

/** Horizon and totals only: what the API samples for its hour of history. */
export async function getLagTotals(pool: pg.Pool, options: LagOptions = {}): Promise<{ generated_at: string; horizon: HorizonLag; totals: LagTotals; tables: TableLag[] }> {
  const o = resolveOptions(options);
  return withSnapshot(pool, async (db) => {
    const reading = await readAll(db, o);
    return { generated_at: reading.generatedAt, horizon: reading.horizon, totals: reading.totals, tables: reading.tables };
  });
}

/** One chain of audit_logs (orgId null: the system chain), or undefined when it has no row at all. */
export async function getChainLag(pool: pg.Pool, orgId: string | null, options: LagOptions = {}): Promise<ChainDetail | undefined> {
  const o = resolveOptions(options);
  return withSnapshot(pool, async (db) => {
    const { generatedAt, horizon } = await readHorizon(db, o.staleAfterSeconds, o.aboveDiscoveredWindow);
    const chain = await readOneChain(db, orgId, await heldRowsOf(db, horizon, o.aboveDiscoveredWindow), await readOwnTable(db), await readProbeMode(db));
    if (!chain) return undefined;
    const checkpoints = await db.query<CheckpointRow>(readCheckpoints(orgId, 5));
    return { generated_at: generatedAt, horizon, chain, table_lag: null, recent_checkpoints: checkpoints.rows.map((row) => toCheckpointRecord(row, chain.table)) };
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
    const reading = await readAll(db, o);
    const { generatedAt, horizon, totals } = reading;
    const workers = await readWorkers(db, o.staleAfterSeconds, o.goneAfterSeconds);
    const status: LagStatus = {
      generated_at: generatedAt,
      horizon,
      totals,
      tables: reading.tables,
      workers: workers.summary,
      seal_latency: describeLatency(workers.latency),
      last_checkpoint: await readLastCheckpoint(db),
      last_verification: await readLastVerification(db),
      verification: await readVerificationCounts(db),
      halted: await readHalted(db, totals.halted_chains),
    };
    const top = topN > 0 ? (await readWorstChains(db, reading, Math.min(topN, MAX_PAGE))).chains : [];
    return { status, top };
  });
}

/** audit_logs' recorded checkpoints (attached tables': listTableCheckpoints). */
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
    const table = (await readOwnTable(db)).name;
    return {
      generated_at: generatedAt,
      checkpoints: shown.map((row) => toCheckpointRecord(row, table)),
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
