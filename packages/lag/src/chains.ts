// Per-chain figures: a page of the overview (worst first) or one chain.
import { encodeOverviewCursor, type OverviewCursor } from './cursor.ts';
import {
  readBrokenChains,
  readChain,
  readChainPage,
  readFirstPendingOfChain,
  readFirstRowOfChain,
  type ChainFiguresRow,
  type ChainInputs,
  type ProbeMode,
} from './chain-queries.ts';
import { heldArrays, type HeldRows } from './held-rows.ts';
import type { Queryable } from './snapshot.ts';
import { chainIdOf, NIL_UUID_TEXT, num, round3 } from './sql.ts';
import type { ChainLag } from './types.ts';

export interface ChainPage {
  chains: ChainLag[];
  nextCursor: string | null;
}

export async function readChainsPage(
  db: Queryable,
  limit: number,
  held: HeldRows,
  probes: ProbeMode,
  cursor?: OverviewCursor,
): Promise<ChainPage> {
  // One row more than asked tells whether another page exists without a count.
  const rows = (await db.query<ChainFiguresRow>(readChainPage(limit + 1, await chainInputs(db, held), cursor, probes))).rows;
  const shown = rows.slice(0, limit);
  if (probes === 'separate') await probeOldest(db, shown);
  const last = shown.at(-1);
  const nextCursor =
    rows.length > limit && last
      ? encodeOverviewCursor({ attention: last.attention ? 1 : 0, pending: BigInt(last.pending), sinceMicros: BigInt(last.since_us), chainKey: last.chain_key })
      : null;
  return { chains: shown.map(toChainLag), nextCursor };
}

async function chainInputs(db: Queryable, held: HeldRows, only?: string): Promise<ChainInputs> {
  const broken = (await db.query<{ broken: string[] }>(readBrokenChains())).rows[0]!.broken;
  return { held: heldArrays(held, only), broken };
}

/** One chain's figures, or undefined when the chain has no row at all. */
export async function readOneChain(db: Queryable, orgId: string | null, held: HeldRows, probes: ProbeMode): Promise<ChainLag | undefined> {
  const row = (await db.query<ChainFiguresRow>(readChain(orgId, await chainInputs(db, held, orgId ?? NIL_UUID_TEXT), probes))).rows[0];
  if (row && probes === 'separate') await probeOldest(db, [row]);
  if (row) return toChainLag(row);
  // Not discovered yet (new, or its rows wait behind the horizon): every row is pending.
  const first = (await db.query<{ chain_seq: string; recorded_at: string; age: number }>(readFirstRowOfChain(orgId))).rows[0];
  if (!first) return undefined;
  return {
    chain: chainIdOf(orgId),
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
    last_checkpoint: null,
    last_verification: null,
  };
}

/**
 * ProbeMode 'separate': each chain's first row above its watermark, one query
 * per chain (a single-shard index probe on Citus), in the reading's transaction.
 */
async function probeOldest(db: Queryable, rows: ChainFiguresRow[]): Promise<void> {
  for (const row of rows) {
    if (row.pending === '0') continue;
    const first = (await db.query<{ chain_seq: string; recorded_at: string; age: number }>(readFirstPendingOfChain(row.org_id, row.watermark_seq))).rows[0];
    if (!first) continue;
    row.oldest_seq = first.chain_seq;
    row.oldest_at = first.recorded_at;
    row.oldest_age = first.age;
  }
}

function toChainLag(row: ChainFiguresRow): ChainLag {
  const sealed = num(row.sealed_count);
  return {
    chain: chainIdOf(row.org_id),
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
