// Per-chain figures of audit_logs: a page of the overview (worst first) or one chain.
import type { OverviewCursor } from './cursor.ts';
import { compareChains, isAfter, type ChainSortKey, type SortedChain } from './chain-order.ts';
import {
  readBrokenChains,
  readChain,
  readChainPage,
  readFirstRowOfChain,
  readHaltedChains,
  readPlainChainKeys,
  type ChainFiguresRow,
  type ChainInputs,
} from './chain-queries.ts';
import { heldArrays, heldArraysOf, type HeldRows } from './held-rows.ts';
import type { Queryable } from './snapshot.ts';
import { chainIdOf, NIL_UUID_TEXT, num, round3 } from './sql.ts';
import type { ChainLag } from './types.ts';

/** audit_logs as a chained table: its name (schema.table) and registry id. */
export interface OwnTable {
  name: string;
  id: number;
}

/**
 * audit_logs' chains after `cursor`, worst first: `limit` + 1 of them, so the
 * merge with other tables' chains knows whether another page exists without a count.
 */
export async function readChainsPage(db: Queryable, limit: number, held: HeldRows, own: OwnTable, cursor?: OverviewCursor): Promise<SortedChain[]> {
  // The candidates: every chain whose place the discovery index does not know
  // (halted, broken, with held rows: few), and the first `limit` + 1 others in
  // that index's order. Any chain left out comes after all of those.
  // Of the chains with held rows only the worst `limit` + 1 after the cursor,
  // ranked by their sort keys from readHeldChainStates: with many held chains
  // (an open transaction holding the horizon on a busy server) the page must
  // not read them all.
  const broken = (await db.query<{ broken: string[] }>(readBrokenChains())).rows[0]!.broken;
  const halted = (await db.query<{ halted: string[] }>(readHaltedChains())).rows[0]!.halted;
  const attention = new Set([...halted, ...broken]);
  const heldKeys = held.chains.map((chain) => chain.chain_key);
  const states = held.states;
  if (!states) throw new Error('readChainsPage needs the held chains\' states (readHeldChainStates)');
  const heldSorted = held.chains
    .filter((chain) => !attention.has(chain.chain_key))
    .map((chain): ChainSortKey => {
      const state = states.get(chain.chain_key);
      return { attention: 0, pending: BigInt((state?.discovered ?? 0) + chain.rows), sinceMicros: state?.sinceMicros ?? 0n, tableId: own.id, key: chain.chain_key };
    })
    .filter((key) => isAfter(key, cursor))
    .sort(compareChains)
    .slice(0, limit + 1)
    .map((key) => key.key);
  // Without a range read (nothing above the discovered position), no chain has held rows.
  const exclude = held.range ? [...attention] : [...new Set([...attention, ...heldKeys])];
  const plain = (await db.query<{ chain_key: string }>(readPlainChainKeys(limit + 1, exclude, cursor, own.id, held.range))).rows.map(
    (row) => row.chain_key,
  );
  const only = new Set([...attention, ...heldSorted, ...plain]);
  const candidates: ChainInputs = { held: heldArraysOf(held, only), broken, only: [...only] };
  const rows = (await db.query<ChainFiguresRow>(readChainPage(limit + 1, candidates, cursor, own.id))).rows;
  return rows.map((row) => ({
    lag: toChainLag(row, own.name),
    sort: { attention: row.attention ? 1 : 0, pending: BigInt(row.pending), sinceMicros: BigInt(row.since_us), tableId: own.id, key: row.chain_key },
  }));
}

async function chainInputs(db: Queryable, held: HeldRows, only?: string): Promise<ChainInputs> {
  const broken = (await db.query<{ broken: string[] }>(readBrokenChains())).rows[0]!.broken;
  return { held: heldArrays(held, only), broken };
}

/** One chain's figures, or undefined when the chain has no row at all. */
export async function readOneChain(db: Queryable, orgId: string | null, held: HeldRows, own: OwnTable): Promise<ChainLag | undefined> {
  const row = (await db.query<ChainFiguresRow>(readChain(orgId, await chainInputs(db, held, orgId ?? NIL_UUID_TEXT)))).rows[0];
  if (row) return toChainLag(row, own.name);
  // Not discovered yet (new, or its rows wait behind the horizon): every row is pending.
  const first = (await db.query<{ chain_seq: string; recorded_at: string; age: number }>(readFirstRowOfChain(orgId))).rows[0];
  if (!first) return undefined;
  return {
    table: own.name,
    chain: chainIdOf(orgId),
    chain_key: orgId,
    org_id: orgId,
    pending_rows: 0,
    held_rows: 0,
    sealed_rows: 0,
    watermark_seq: '0',
    head_seq: '0',
    oldest_pending: { chain_seq: first.chain_seq, recorded_at: first.recorded_at, age_seconds: round3(first.age) },
    last_sealed_at: null,
    last_seal_age_seconds: null,
    halted: null,
    drift: null,
    last_checkpoint: null,
    last_verification: null,
  };
}

function toChainLag(row: ChainFiguresRow, table: string): ChainLag {
  const sealed = num(row.sealed_count);
  return {
    table,
    chain: chainIdOf(row.org_id),
    chain_key: row.org_id,
    org_id: row.org_id,
    pending_rows: num(row.pending),
    held_rows: num(row.held),
    sealed_rows: sealed,
    watermark_seq: row.watermark_seq,
    head_seq: row.head_seq,
    oldest_pending:
      row.oldest_seq === null || row.oldest_at === null
        ? null
        : { chain_seq: row.oldest_seq, recorded_at: row.oldest_at, age_seconds: round3(row.oldest_age ?? 0) },
    last_sealed_at: row.last_sealed_at,
    last_seal_age_seconds: row.last_seal_age === null ? null : round3(row.last_seal_age),
    halted: row.halted_at === null ? null : { at: row.halted_at, reason: row.halted_reason },
    drift: null,
    last_checkpoint:
      row.cp_id === null
        ? null
        : {
            id: num(row.cp_id),
            chain_seq: row.cp_seq!,
            sealed_count: num(row.cp_sealed_count),
            signed_at: row.cp_signed_at!,
            age_seconds: round3(row.cp_age ?? 0),
            key_id: row.cp_key_id!,
            rows_since: Math.max(sealed - num(row.cp_sealed_count), 0),
          },
    last_verification:
      row.vs_id === null
        ? null
        : {
            verification_id: num(row.vs_id),
            verified_at: row.vs_at!,
            age_seconds: round3(row.vs_age ?? 0),
            rows_checked: num(row.vs_rows),
            breaks_found: row.vs_breaks ?? 0,
            first_break: row.vs_first_break ?? null,
          },
  };
}
