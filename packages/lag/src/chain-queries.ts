// SQL of the per-chain lag figures of audit_logs. A page never reads the chain
// tables (audit_chain_state, audit_chain_discovery: one row per chain) whole:
// the chains that need attention (halted, broken) and those with held rows are
// few and listed by key, and the others come in order from one index of
// discovery (most pending, then waiting longest: migration 0047) until the page
// is full. Totals are single-table aggregates. audit_logs is only ever touched
// by index probes: one per chain shown (the first row above its watermark,
// through (org_id, chain_seq)) and one bounded range above the discovered
// position (through the BRIN on chain_seq).
import type { OverviewCursor } from './cursor.ts';
import { ageSeconds, chainKey, iso, lateralByOrg, NIL_UUID, orgMatch, type Query } from './sql.ts';

/**
 * What the sort needs beyond the chain tables: `held` (from readHeldRows) as
 * parallel arrays of chain key (the org uuid, or the nil uuid for the system
 * chain), held rows and first held recorded_at; `broken`, the chain keys whose
 * latest verification found breaks (readBrokenChains). Both are small next to
 * the chain tables and are hash-joined onto them.
 */
export interface ChainInputs {
  held: [keys: string[], rows: string[], firstAt: string[]];
  broken: string[];
  /** When set, only these chain keys are read from the chain state (a page's candidates). */
  only?: string[];
}

export const NO_CHAIN_INPUTS: ChainInputs = { held: [[], [], []], broken: [] };

/**
 * Every chain with its sort key: chains that need an operator first (halted,
 * or breaks in their latest verification), then most pending first, then the
 * one waiting longest (since its last seal, or since its first pending row was
 * seen when it was never sealed), then the chain key so pages never overlap.
 * Pending is the discovered count plus the chain's held rows (visible rows
 * above the discovered position): a chain whose rows all wait behind the
 * horizon has no state row yet and is listed from those alone (the second
 * branch). The exact age of the oldest pending row is not a sort key: knowing
 * it for every chain would take one probe of audit_logs per chain.
 */
function chainsCte(values: unknown[], inputs: ChainInputs, orgFilter?: string): string {
  const filters = orgFilter ? [orgFilter] : [];
  if (inputs.only) {
    values.push(inputs.only);
    filters.push(`${chainKey('s.org_id')} = any($${values.length}::uuid[])`);
  }
  values.push(...inputs.held, inputs.broken);
  const n = values.length;
  // Pending and waiting time from discovery's row (its copy of the sealed count
  // and last seal, written in the sealing transaction): the same expressions as
  // the audit_chain_discovery_lag_order index, so a page's chains read through
  // that index sort exactly as here.
  return `known as (
    select s.org_id, s.watermark_seq, s.sealed_count, s.last_sealed_at, s.halted_at, s.halted_reason,
           coalesce(d.seen_seq, 0) as seen_seq,
           greatest(coalesce(d.seen_count, 0) - coalesce(d.sealed_count, s.sealed_count), 0) as discovered_pending,
           coalesce(d.last_sealed_at, d.first_seen_at, s.last_sealed_at, s.updated_at) as since_at,
           ${chainKey('s.org_id')} as chain_key
      from audit_chain_state s
      left join audit_chain_discovery d on ${chainKey('d.org_id')} = ${chainKey('s.org_id')}
     ${filters.length ? `where ${filters.join(' and ')}` : ''}
  ),
  held as (
    select h.chain_key, h.rows, h.first_at from unnest($${n - 3}::uuid[], $${n - 2}::bigint[], $${n - 1}::timestamptz[]) as h(chain_key, rows, first_at)
  ),
  broken as (select distinct b.chain_key from unnest($${n}::uuid[]) as b(chain_key)),
  chains as (
    select k.chain_key, k.org_id, k.watermark_seq, k.sealed_count, k.last_sealed_at, k.halted_at, k.halted_reason, k.seen_seq,
           k.discovered_pending + coalesce(h.rows, 0) as pending,
           coalesce(h.rows, 0) as held,
           (extract(epoch from k.since_at) * 1000000)::bigint as since_us,
           (k.halted_at is not null or b.chain_key is not null)::int as attention
      from known k
      left join held h on h.chain_key = k.chain_key
      left join broken b on b.chain_key = k.chain_key
    union all
    select h.chain_key, nullif(h.chain_key, ${NIL_UUID}), 0::bigint, 0::bigint, null::timestamptz, null::timestamptz, null::text, 0::bigint,
           h.rows, h.rows, (extract(epoch from h.first_at) * 1000000)::bigint,
           (exists (select 1 from broken b where b.chain_key = h.chain_key))::int
      from held h
     where not exists (select 1 from audit_chain_state s where s.org_id = h.chain_key)
       and not (h.chain_key = ${NIL_UUID} and exists (select 1 from audit_chain_state s where s.org_id is null))
  )`;
}

/** The chain keys of halted chains (through the partial index of 0047). */
export function readHaltedChains(): Query {
  return {
    text: `select coalesce(array_agg(${chainKey('s.org_id')}::text), '{}') as halted
             from audit_chain_state s where s.halted_at is not null`,
    values: [],
  };
}

const LAG_ORDER = ['least(d.sealed_count - d.seen_count, 0)', 'coalesce(d.last_sealed_at, d.first_seen_at)', chainKey('d.org_id')];

/**
 * Up to `limit` chains after `cursor` in the order of the index
 * audit_chain_discovery_lag_order (most pending, waiting longest, chain key),
 * leaving out `exclude` (the chains that need attention) and the chains with
 * held rows in `heldRange`: the index does not know their place. A cursor in another table decides
 * ties of pending and waiting time by the table's id (chain-order.ts).
 */
export function readPlainChainKeys(
  limit: number,
  exclude: string[],
  cursor: OverviewCursor | undefined,
  ownTableId: number,
  heldRange?: { after: bigint; upTo: bigint },
): Query {
  const values: unknown[] = [exclude, limit];
  // Chains with held rows (visible rows in the range read above the discovered
  // position) are left out by an index probe per chain scanned, rather than by
  // sending their keys: there may be tens of thousands of them.
  let notHeld = '';
  if (heldRange) {
    values.push(heldRange.after.toString(), heldRange.upTo.toString());
    const range = `a.chain_seq > $${values.length - 1}::bigint and a.chain_seq <= $${values.length}::bigint`;
    notHeld = `and not (case when d.org_id is null
                             then exists (select 1 from audit_logs a where a.org_id is null and ${range})
                             else exists (select 1 from audit_logs a where a.org_id = d.org_id and ${range}) end)`;
  }
  let after = '';
  if (cursor && cursor.attention === 0) {
    values.push((-cursor.pending).toString(), cursor.sinceMicros.toString());
    const [p, s] = [`$${values.length - 1}::bigint`, `timestamptz 'epoch' + $${values.length}::bigint * interval '1 microsecond'`];
    if (cursor.tableId === ownTableId) {
      values.push(cursor.key);
      after = `and (${LAG_ORDER.join(', ')}) > (${p}, ${s}, $${values.length}::uuid)`;
    } else {
      after = `and (${LAG_ORDER[0]}, ${LAG_ORDER[1]}) ${cursor.tableId < ownTableId ? '>=' : '>'} (${p}, ${s})`;
    }
  }
  return {
    text: `select ${chainKey('d.org_id')}::text as chain_key
             from audit_chain_discovery d
            where not (${chainKey('d.org_id')} = any($1::uuid[])) ${notHeld} ${after}
            order by ${LAG_ORDER.join(', ')}
            limit $2`,
    values,
  };
}

/** The chain keys whose latest verification found breaks (see ChainInputs). */
export function readBrokenChains(): Query {
  return {
    text: `select coalesce(array_agg(${chainKey('v.org_id')}::text), '{}') as broken
             from audit_chain_verify_status v where v.breaks_found > 0`,
    values: [],
  };
}

const ORDER = 'attention desc, pending desc, since_us asc, chain_key asc';
const PAGE_ORDER = 'p.attention desc, p.pending desc, p.since_us asc, p.chain_key asc';

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
                 p.sealed_count::text as sealed_count, p.pending::text as pending, p.held::text as held,
                 p.since_us::text as since_us, p.attention,
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
  held: string;
  since_us: string;
  attention: number;
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

/**
 * One page of audit_logs' chains, worst first, after `cursor` when given. The
 * cursor may stand in another table (chain-order.ts): on a tie of the first
 * three sort keys, the table's id decides, so `afterKey` is the cursor's key
 * in audit_logs itself, '' when the cursor's table comes before audit_logs
 * (every tied chain follows) or '~' when it comes after (none does).
 */
export function readChainPage(limit: number, inputs: ChainInputs, cursor?: OverviewCursor, ownTableId = 0): Query {
  const values: unknown[] = [limit];
  const cte = chainsCte(values, inputs);
  let after = '';
  if (cursor) {
    const afterKey = cursor.tableId === ownTableId ? cursor.key : cursor.tableId < ownTableId ? '' : '~';
    values.push(cursor.attention, cursor.pending.toString(), cursor.sinceMicros.toString(), afterKey);
    const [a, p, s, k] = [values.length - 3, values.length - 2, values.length - 1, values.length];
    after = `where attention < $${a}::int or (attention = $${a}::int and (pending < $${p}::bigint
                or (pending = $${p}::bigint and (since_us > $${s}::bigint or (since_us = $${s}::bigint and chain_key::text collate "C" > $${k}::text)))))`;
  }
  return {
    text: `with ${cte},
           page as materialized (select * from chains ${after} order by ${ORDER} limit $1)
           ${selectChainFigures()}`,
    values,
  };
}

/** The figures of one chain; no row when the chain has neither a state row nor held rows. */
export function readChain(orgId: string | null, inputs: ChainInputs): Query {
  const values: unknown[] = [];
  const filter = orgMatch('s.org_id', orgId, values);
  return {
    text: `with ${chainsCte(values, inputs, filter)},
           page as materialized (select * from chains)
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
  chains_with_discovered_pending: string;
  pending_discovered: string;
  sealed: string;
  halted: string;
}

/**
 * Sums over the chains, each a single-table aggregate: the chain states
 * (chains, sealed rows, halted) and discovery (discovered pending rows, from
 * its copy of the sealed count). Held rows are added by the caller
 * (readHeldChainStates). audit_logs is not read.
 */
export function readChainTotals(): Query {
  return {
    text: `with s as (
             select count(*) as chains, coalesce(sum(sealed_count), 0) as sealed, count(*) filter (where halted_at is not null) as halted
               from audit_chain_state
           ),
           d as (
             select coalesce(sum(greatest(seen_count - sealed_count, 0)), 0) as pending, count(*) filter (where seen_count > sealed_count) as with_pending
               from audit_chain_discovery
           )
           select s.chains::text as chains, d.with_pending::text as chains_with_discovered_pending, d.pending::text as pending_discovered,
                  s.sealed::text as sealed, s.halted::text as halted
             from s, d`,
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
    text: `with waiting as (
             select d.org_id from audit_chain_discovery d
              where d.seen_count > d.sealed_count
              order by coalesce(d.last_sealed_at, d.first_seen_at)
              limit $1
           ), candidates as (
             select s.org_id, s.watermark_seq
               from waiting w join audit_chain_state s on ${chainKey('s.org_id')} = ${chainKey('w.org_id')}
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
 * Planner settings for the range scans above a position (readFirstRowAbove,
 * readHeldRowsPerChain). With a condition on
 * chain_seq alone, the planner may walk the whole (org_id, chain_seq) index
 * (chain_seq is its second column) or the table, which it prices low on a small
 * table; both grow with the table. Only a bitmap scan is left, which for this
 * range is the BRIN on chain_seq: a bounded slice of the table at any size.
 */
export const ABOVE_DISCOVERED_PLANNER = { enable_indexscan: 'off', enable_indexonlyscan: 'off', enable_seqscan: 'off' } as const;

/**
 * The first visible row above `afterSeq` (the discovered position, or the
 * horizon), looking at most `window` chain_seq values ahead. Bounded by value so
 * the BRIN scan reads a bounded slice of the table however far the head has run.
 */
export function readFirstRowAbove(afterSeq: bigint, window: bigint): Query {
  return {
    text: `select a.org_id::text as org_id, a.chain_seq, ${iso('a.recorded_at')} as recorded_at,
                  ${ageSeconds('a.recorded_at')} as age
             from audit_logs a
            where a.chain_seq > $1::bigint and a.chain_seq <= $2::bigint
            order by a.chain_seq
            limit 1`,
    values: [afterSeq.toString(), (afterSeq + window).toString()],
  };
}
