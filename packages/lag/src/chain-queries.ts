// SQL of the per-chain lag figures. The chain tables (audit_chain_state,
// audit_chain_discovery: one row per chain) are read whole for sorting and
// totals; audit_logs is only ever touched by index probes: one per chain shown
// (the first row above its watermark, through (org_id, chain_seq)) and one
// bounded range above the discovered position (through the BRIN on chain_seq).
import type { OverviewCursor } from './cursor.ts';
import { ageSeconds, chainKey, iso, lateralByOrg, orgMatch, type Query } from './sql.ts';

/**
 * Every chain with its sort key: most pending first, then the one waiting
 * longest (since its last seal, or since discovery first saw it when it was
 * never sealed), then the chain key so pages never overlap. The exact age of
 * the oldest pending row is not a sort key: knowing it for every chain would
 * take one probe of audit_logs per chain.
 */
function chainsCte(filter: string): string {
  return `chains as (
    select s.org_id, s.watermark_seq, s.sealed_count, s.last_sealed_at, s.halted_at, s.halted_reason,
           coalesce(d.seen_seq, 0) as seen_seq,
           greatest(coalesce(d.seen_count, 0) - s.sealed_count, 0) as pending,
           (extract(epoch from coalesce(s.last_sealed_at, d.first_seen_at, s.updated_at)) * 1000000)::bigint as since_us,
           ${chainKey('s.org_id')} as chain_key
      from audit_chain_state s
      left join audit_chain_discovery d on ${chainKey('d.org_id')} = ${chainKey('s.org_id')}
     ${filter}
  )`;
}

const ORDER = 'pending desc, since_us asc, chain_key asc';
const PAGE_ORDER = 'p.pending desc, p.since_us asc, p.chain_key asc';

/** The figures of the chains in `page`, with their three per-chain probes. */
function selectChainFigures(): string {
  const oldest = lateralByOrg('p.org_id', {
    select: 'a.chain_seq, a.recorded_at',
    table: 'audit_logs',
    alias: 'a',
    where: 'a.chain_seq > p.watermark_seq',
    orderBy: 'a.chain_seq',
  });
  const checkpoint = lateralByOrg('p.org_id', {
    select: 'c.id, c.chain_seq, c.sealed_count, c.signed_at, c.key_id',
    table: 'audit_chain_checkpoints',
    alias: 'c',
    where: '',
    orderBy: 'c.chain_seq desc, c.signed_at desc',
  });
  const verification = lateralByOrg('p.org_id', {
    select: 'v.verification_id, v.verified_at, v.rows_checked, v.breaks_found, v.first_break',
    table: 'audit_chain_verify_status',
    alias: 'v',
    where: '',
    orderBy: 'v.verified_at desc',
  });
  return `select p.org_id::text as org_id, p.watermark_seq::text as watermark_seq, p.seen_seq::text as head_seq,
                 p.sealed_count::text as sealed_count, p.pending::text as pending, p.since_us::text as since_us,
                 p.chain_key::text as chain_key,
                 ${iso('p.last_sealed_at')} as last_sealed_at, ${ageSeconds('p.last_sealed_at')} as last_seal_age,
                 ${iso('p.halted_at')} as halted_at, p.halted_reason,
                 o.chain_seq::text as oldest_seq, ${iso('o.recorded_at')} as oldest_at, ${ageSeconds('o.recorded_at')} as oldest_age,
                 cp.id::text as cp_id, cp.chain_seq::text as cp_seq, cp.sealed_count::text as cp_sealed_count,
                 ${iso('cp.signed_at')} as cp_signed_at, ${ageSeconds('cp.signed_at')} as cp_age, cp.key_id as cp_key_id,
                 vs.verification_id::text as vs_id, ${iso('vs.verified_at')} as vs_at, ${ageSeconds('vs.verified_at')} as vs_age,
                 vs.rows_checked::text as vs_rows, vs.breaks_found as vs_breaks, vs.first_break as vs_first_break
            from page p
            left join lateral ${oldest} o on true
            left join lateral ${checkpoint} cp on true
            left join lateral ${verification} vs on true
           order by ${PAGE_ORDER}`;
}

export interface ChainFiguresRow {
  org_id: string | null;
  watermark_seq: string;
  head_seq: string;
  sealed_count: string;
  pending: string;
  since_us: string;
  chain_key: string;
  last_sealed_at: string | null;
  last_seal_age: number | null;
  halted_at: string | null;
  halted_reason: string | null;
  oldest_seq: string | null;
  oldest_at: string | null;
  oldest_age: number | null;
  cp_id: string | null;
  cp_seq: string | null;
  cp_sealed_count: string | null;
  cp_signed_at: string | null;
  cp_age: number | null;
  cp_key_id: string | null;
  vs_id: string | null;
  vs_at: string | null;
  vs_age: number | null;
  vs_rows: string | null;
  vs_breaks: number | null;
  vs_first_break: unknown;
}

/** One page of the overview, worst first, after `cursor` when given. */
export function readChainPage(limit: number, cursor?: OverviewCursor): Query {
  const values: unknown[] = [limit];
  let after = '';
  if (cursor) {
    values.push(cursor.pending.toString(), cursor.sinceMicros.toString(), cursor.chainKey);
    after = `where pending < $2::bigint
                or (pending = $2::bigint and (since_us > $3::bigint or (since_us = $3::bigint and chain_key > $4::uuid)))`;
  }
  return {
    text: `with ${chainsCte('')},
           page as (select * from chains ${after} order by ${ORDER} limit $1)
           ${selectChainFigures()}`,
    values,
  };
}

/** The figures of one chain; no row when the chain has no state row yet. */
export function readChain(orgId: string | null): Query {
  const values: unknown[] = [];
  return {
    text: `with ${chainsCte(`where ${orgMatch('s.org_id', orgId, values)}`)},
           page as (select * from chains)
           ${selectChainFigures()}`,
    values,
  };
}

/** The first row of a chain that has no state row yet (discovery has not reached it): everything in it is pending. */
export function readFirstRowOfChain(orgId: string | null): Query {
  const values: unknown[] = [];
  return {
    text: `select a.chain_seq, ${iso('a.recorded_at')} as recorded_at, ${ageSeconds('a.recorded_at')} as age
             from audit_logs a where ${orgMatch('a.org_id', orgId, values)}
            order by a.org_id, a.chain_seq limit 1`,
    values,
  };
}

export interface ChainTotalsRow {
  chains: string;
  chains_with_pending: string;
  pending: string;
  sealed: string;
  halted: string;
}

/** Sums over the chain tables (one row per chain; audit_logs is not read). */
export function readChainTotals(): Query {
  return {
    text: `select count(*)::text as chains,
                  count(*) filter (where coalesce(d.seen_count, 0) > s.sealed_count)::text as chains_with_pending,
                  coalesce(sum(greatest(coalesce(d.seen_count, 0) - s.sealed_count, 0)), 0)::text as pending,
                  coalesce(sum(s.sealed_count), 0)::text as sealed,
                  count(*) filter (where s.halted_at is not null)::text as halted
             from audit_chain_state s
             left join audit_chain_discovery d on ${chainKey('d.org_id')} = ${chainKey('s.org_id')}`,
    values: [],
  };
}

export interface OldestPendingRow {
  org_id: string | null;
  chain_seq: string;
  recorded_at: string;
  age: number;
}

/**
 * The oldest first-pending row among the `limit` chains with discovered pending
 * rows that have waited longest. Exact when no more chains than that have
 * pending rows (the caller knows from the totals).
 */
export function readOldestPendingOfChains(limit: number): Query {
  const oldest = lateralByOrg('c.org_id', {
    select: 'a.chain_seq, a.recorded_at',
    table: 'audit_logs',
    alias: 'a',
    where: 'a.chain_seq > c.watermark_seq',
    orderBy: 'a.chain_seq',
  });
  return {
    text: `with candidates as (
             select s.org_id, s.watermark_seq
               from audit_chain_state s
               join audit_chain_discovery d on ${chainKey('d.org_id')} = ${chainKey('s.org_id')}
              where d.seen_count > s.sealed_count
              order by coalesce(s.last_sealed_at, d.first_seen_at, s.updated_at), ${chainKey('s.org_id')}
              limit $1
           )
           select c.org_id::text as org_id, o.chain_seq::text as chain_seq, ${iso('o.recorded_at')} as recorded_at,
                  ${ageSeconds('o.recorded_at')} as age
             from candidates c
             cross join lateral ${oldest} o
            order by o.recorded_at, o.chain_seq
            limit 1`,
    values: [limit],
  };
}

/**
 * Planner settings for readFirstRowAboveDiscovered. With a condition on
 * chain_seq alone, the planner may walk the whole (org_id, chain_seq) index
 * (chain_seq is its second column) or the table, which it prices low on a small
 * table; both grow with the table. Only a bitmap scan is left, which for this
 * range is the BRIN on chain_seq: a bounded slice of the table at any size.
 */
export const ABOVE_DISCOVERED_PLANNER = { enable_indexscan: 'off', enable_indexonlyscan: 'off', enable_seqscan: 'off' } as const;

/**
 * The first visible row above the discovered position, looking at most
 * `window` chain_seq values ahead: rows there belong to no chain's counts yet
 * (held behind the horizon, or not yet discovered). Bounded by value so the
 * BRIN scan reads a bounded slice of the table however far the head has run.
 */
export function readFirstRowAboveDiscovered(discoveredSeq: bigint, window: bigint): Query {
  return {
    text: `select a.org_id::text as org_id, a.chain_seq, ${iso('a.recorded_at')} as recorded_at,
                  ${ageSeconds('a.recorded_at')} as age
             from audit_logs a
            where a.chain_seq > $1::bigint and a.chain_seq <= $2::bigint
            order by a.chain_seq
            limit 1`,
    values: [discoveredSeq.toString(), (discoveredSeq + window).toString()],
  };
}
