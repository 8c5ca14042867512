// Views of one chained table named as schema.table: one of its chains (the
// detail `audit-chain lag --table` and GET /admin/v1/lag/tables/:table/chains/:chain
// show) and its recorded checkpoints (GET /admin/v1/checkpoints?table=). An
// attached table's chain is read with the same figures as the overview
// (attached-lag.ts); audit_logs, named by its table too, keeps its own views.
import type pg from 'pg';
import { listChainedTables, type ChainedTable } from '@audit-chain/sealing';
import { readAttachedTable } from './attached-lag.ts';
import { encodeCheckpointCursor, type CheckpointCursor } from './cursor.ts';
import { readHorizon } from './horizon.ts';
import { resolveOptions, type LagOptions } from './options.ts';
import { withSnapshot, type Queryable } from './snapshot.ts';
import { readNow } from './system-queries.ts';
import { fillTableCheckpoints, queryTableCheckpoints } from './table-checkpoints.ts';
import type { ChainDetail, CheckpointsPage } from './types.ts';
import { getChainLag, listCheckpoints, MAX_PAGE, readOwnTable } from './views.ts';

/** What a table-and-chain request found: the detail, or which of the two does not exist. */
export type TableChainLookup<T> = { found: T } | { missing: 'table' | 'chain' };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An attached (or drifted) table by its schema.table name. */
export async function findChainedTable(db: Queryable, name: string): Promise<ChainedTable | undefined> {
  return (await listChainedTables(db)).find((table) => `${table.schema}.${table.table}` === name);
}

/**
 * audit_logs' chain named by a chain id ('system' or an org uuid): the org_id
 * (null for the system chain), or undefined when the text names no chain.
 */
function ownChain(chain: string): string | null | undefined {
  if (chain === 'system') return null;
  return UUID.test(chain) ? chain.toLowerCase() : undefined;
}

/**
 * The chain key a chain id names in an attached table: 'all' in a table
 * without a chain key (its one chain); in a keyed table the key's text, and
 * 'null' the rows whose key is NULL unless the table has a chain whose key is
 * the text 'null' (a state row or a checkpoint of it). Undefined: no such chain
 * can exist.
 */
async function chainKeyOf(db: Queryable, table: ChainedTable, chain: string): Promise<string | null | undefined> {
  if (table.chainKey === null) return chain === 'all' ? null : undefined;
  if (chain !== 'null') return chain;
  const literal = (
    await db.query<{ literal: boolean }>(
      `select exists (select 1 from audit_chain_table_state where table_id = $1 and chain_key = 'null')
           or exists (select 1 from audit_chain_table_checkpoints where table_id = $1 and chain_key = 'null') as literal`,
      [table.id],
    )
  ).rows[0]!.literal;
  return literal ? 'null' : null;
}

/**
 * One chain of a chained table, with the same figures as the overview's and
 * its latest checkpoints. `chain` is the overview's chain id (see chainKeyOf;
 * audit_logs: an org uuid or 'system').
 */
export async function getTableChainLag(pool: pg.Pool, tableName: string, chain: string, options: LagOptions = {}): Promise<TableChainLookup<ChainDetail>> {
  const o = resolveOptions(options);
  const ownName = await withSnapshot(pool, async (db) => (await readOwnTable(db)).name);
  if (tableName === ownName) {
    const orgId = ownChain(chain);
    const detail = orgId === undefined ? undefined : await getChainLag(pool, orgId, options);
    return detail ? { found: detail } : { missing: 'chain' };
  }
  return withSnapshot(pool, async (db) => {
    const table = await findChainedTable(db, tableName);
    if (!table) return { missing: 'table' };
    const key = await chainKeyOf(db, table, chain);
    const { generatedAt, horizon } = await readHorizon(db, o.staleAfterSeconds, o.aboveDiscoveredWindow);
    const reading = await readAttachedTable(db, table, horizon.workers_alive);
    const found = key === undefined ? undefined : reading.chains.find((candidate) => candidate.lag.chain_key === key);
    if (!found) return { missing: 'chain' };
    await fillTableCheckpoints(db, [{ lag: found.lag, tableId: table.id }]);
    const recent = await queryTableCheckpoints(db, table, key, 5);
    return { found: { generated_at: generatedAt, horizon, chain: found.lag, table_lag: reading.lag, recent_checkpoints: recent.records } };
  });
}

/**
 * Recorded checkpoints of one chained table, newest first: of one chain
 * (`chain`, a chain id as in getTableChainLag) in chain_seq order, else in the
 * order they were recorded. audit_logs' are listCheckpoints'.
 */
export async function listTableCheckpoints(
  pool: pg.Pool,
  page: { table: string; chain?: string | undefined; limit: number; cursor?: CheckpointCursor | undefined },
): Promise<TableChainLookup<CheckpointsPage>> {
  const limit = Math.min(page.limit, MAX_PAGE);
  const ownName = await withSnapshot(pool, async (db) => (await readOwnTable(db)).name);
  if (page.table === ownName) {
    const orgId = page.chain === undefined ? undefined : ownChain(page.chain);
    if (page.chain !== undefined && orgId === undefined) return { missing: 'chain' };
    return { found: await listCheckpoints(pool, { orgId, limit, cursor: page.cursor }) };
  }
  return withSnapshot(pool, async (db) => {
    const table = await findChainedTable(db, page.table);
    if (!table) return { missing: 'table' };
    const key = page.chain === undefined ? undefined : await chainKeyOf(db, table, page.chain);
    if (page.chain !== undefined && key === undefined) return { missing: 'chain' };
    const generatedAt = (await db.query<{ now: string }>(readNow())).rows[0]!.now;
    const rows = await queryTableCheckpoints(db, table, key, limit + 1, page.cursor);
    const shown = rows.records.slice(0, limit);
    const last = shown.at(-1);
    return {
      found: {
        generated_at: generatedAt,
        checkpoints: shown,
        next_cursor: rows.records.length > limit && last ? encodeCheckpointCursor({ id: BigInt(last.id), chainSeq: BigInt(last.chain_seq) }) : null,
      },
    };
  });
}
