// SQL of the sealing stages, as pure functions returning { text, values } so
// they can be read and tested without a database. Every statement that names a
// chain uses `org_id = $n` or `org_id is null`, never IS NOT DISTINCT FROM, so the
// (org_id, chain_seq) index serves the system chain too; and orders by
// (org_id, chain_seq), since for `org_id is null` the planner does not see that
// the index already returns chain_seq order and would sort the whole range.
import { GENESIS_PREV_CHECKSUM } from '@audit-chain/chain';
import { orgMatch, type Query } from '@audit-chain/db';
import { CANONICAL_COLUMNS, PENDING_COLUMNS_V2 } from './rows.ts';

export function lockChainState(orgId: string | null): Query {
  const values: unknown[] = [];
  return {
    text: `select watermark_seq::text, head_checksum, sealed_count::text, halted_at
             from audit_chain_state where ${orgMatch('org_id', orgId, values)}
             for update skip locked`,
    values,
  };
}

export function chainStateExists(orgId: string | null): Query {
  const values: unknown[] = [];
  return { text: `select 1 from audit_chain_state where ${orgMatch('org_id', orgId, values)}`, values };
}

/** The next pending rows, read for the given format version's canonical form. */
export function readPendingRows(orgId: string | null, afterSeq: bigint, upToSeq: bigint, limit: number, formatVersion: 1 | 2 = 2): Query {
  const values: unknown[] = [afterSeq.toString(), upToSeq.toString(), limit];
  return {
    text: `select ${formatVersion === 2 ? PENDING_COLUMNS_V2 : CANONICAL_COLUMNS}, a.checksum is not null as has_chain_values
             from audit_logs a
            where ${orgMatch('a.org_id', orgId, values)} and a.chain_seq > $1 and a.chain_seq <= $2
            order by a.org_id, a.chain_seq
            limit $3`,
    values,
  };
}

/** The row at the watermark, whose checksum must equal the state's head. */
export function readHeadRow(orgId: string | null, seq: bigint): Query {
  const values: unknown[] = [seq.toString()];
  return {
    text: `select a.checksum from audit_logs a where ${orgMatch('a.org_id', orgId, values)} and a.chain_seq = $1`,
    values,
  };
}

/** A sealed first row of the chain (its predecessor is the genesis value); uses the no-fork index. */
export function findGenesisRow(orgId: string | null): Query {
  const values: unknown[] = [GENESIS_PREV_CHECKSUM];
  return {
    text: `select a.chain_seq::text from audit_logs a
            where ${orgMatch('a.org_id', orgId, values)} and a.prev_checksum = $1 limit 1`,
    values,
  };
}

/** An unsealed row at or below the watermark, looked for in the last `window` values below it. */
export function findUnsealedBelowWatermark(orgId: string | null, watermark: bigint, window: bigint): Query {
  const lower = watermark > window ? watermark - window : 0n;
  const values: unknown[] = [lower.toString(), watermark.toString()];
  return {
    text: `select a.chain_seq::text from audit_logs a
            where ${orgMatch('a.org_id', orgId, values)} and a.chain_seq > $1 and a.chain_seq <= $2
              and a.checksum is null
            order by a.org_id, a.chain_seq limit 1`,
    values,
  };
}

/** Clears chain values that a privileged connection slipped into pending rows: they never survive sealing. */
export function clearSlippedChainValues(orgId: string | null, afterSeq: bigint, upToSeq: bigint): Query {
  const values: unknown[] = [afterSeq.toString(), upToSeq.toString()];
  return {
    text: `update audit_logs a
              set prev_checksum = null, checksum = null, checksum_version = null, pii_digest = null, pii_salt = null
            where ${orgMatch('a.org_id', orgId, values)} and a.chain_seq > $1 and a.chain_seq <= $2
              and a.checksum is not null`,
    values,
  };
}

export interface LinkColumns {
  chainSeqs: string[];
  prevChecksums: string[];
  checksums: string[];
  piiDigests: string[];
  piiSalts: string[];
}

/**
 * One statement writes a whole batch of links; returns each row's recorded_at in
 * epoch milliseconds. Only immutable expressions in RETURNING: Citus refuses any
 * other on a distributed table, so the sealing time comes from advanceWatermark.
 */
export function writeLinks(orgId: string | null, version: number, links: LinkColumns): Query {
  // The batch's first and last chain_seq bound the index range scanned, so a
  // batch costs the same however long the chain's backlog is.
  const values: unknown[] = [
    links.chainSeqs,
    links.prevChecksums,
    links.checksums,
    links.piiDigests,
    links.piiSalts,
    version,
    links.chainSeqs[0],
    links.chainSeqs[links.chainSeqs.length - 1],
  ];
  return {
    text: `update audit_logs a
              set prev_checksum = v.prev_checksum, checksum = v.checksum, checksum_version = $6,
                  pii_digest = v.pii_digest, pii_salt = v.pii_salt
             from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])
                  as v(chain_seq, prev_checksum, checksum, pii_digest, pii_salt)
            where ${orgMatch('a.org_id', orgId, values)} and a.chain_seq = v.chain_seq
              and a.chain_seq between $7::bigint and $8::bigint
        returning case when isfinite(a.recorded_at)
                       then (extract(epoch from a.recorded_at - timestamptz 'epoch') * 1000)::float8 end as recorded_ms`,
    values,
  };
}

/**
 * Copies a seal into the chain's discovery row (sealed count and time), for the
 * lag views' order of chains by pending rows (migration 0055). Runs in the
 * sealing transaction before advanceWatermark: discovery locks discovery rows
 * first and never waits on a chain state only locked FOR UPDATE, so the two
 * never wait on each other in a cycle.
 */
export function recordSealInDiscovery(orgId: string | null, sealed: number): Query {
  const values: unknown[] = [sealed];
  return {
    text: `update audit_chain_discovery set sealed_count = sealed_count + $1, last_sealed_at = now()
            where ${orgMatch('org_id', orgId, values)}`,
    values,
  };
}

/** Moves the watermark only if nobody moved it since this transaction read it (compare-and-set); returns the time sealed, in epoch milliseconds. */
export function advanceWatermark(
  orgId: string | null,
  fromSeq: bigint,
  toSeq: bigint,
  headChecksum: string,
  sealed: number,
): Query {
  const values: unknown[] = [fromSeq.toString(), toSeq.toString(), headChecksum, sealed];
  return {
    text: `update audit_chain_state
              set watermark_seq = $2, head_checksum = $3, sealed_count = sealed_count + $4,
                  last_sealed_at = now(), updated_at = now()
            where ${orgMatch('org_id', orgId, values)} and watermark_seq = $1
        returning (extract(epoch from clock_timestamp() - timestamptz 'epoch') * 1000)::float8 as sealed_ms`,
    values,
  };
}

export function haltChain(orgId: string | null, reason: string): Query {
  const values: unknown[] = [reason];
  return {
    text: `update audit_chain_state set halted_at = now(), halted_reason = $1, updated_at = now()
            where ${orgMatch('org_id', orgId, values)} and halted_at is null`,
    values,
  };
}

export function readProgress(): Query {
  return {
    text: `select horizon_seq::text, discovered_seq::text, horizon_at, discovered_at from audit_chain_progress where id = 1`,
    values: [],
  };
}

export function recordHorizon(horizon: bigint): Query {
  return {
    text: `update audit_chain_progress
              set horizon_seq = greatest(horizon_seq, $1::bigint),
                  horizon_at = case when $1::bigint > horizon_seq then now() else horizon_at end
            where id = 1
        returning horizon_seq::text`,
    values: [horizon.toString()],
  };
}

/** Counts rows in (from, to] per chain into audit_chain_discovery and creates missing chain states. */
export function countDiscoveredRows(fromSeq: bigint, toSeq: bigint): Query {
  return {
    text: `with found as (
             select org_id, max(chain_seq) as seen_seq, count(*) as seen_count
               from audit_logs
              where chain_seq > $1 and chain_seq <= $2
              group by org_id
           ), counted as (
             insert into audit_chain_discovery as d (org_id, seen_seq, seen_count)
             select org_id, seen_seq, seen_count from found
             on conflict on constraint audit_chain_discovery_org_unique do update
               set seen_seq = greatest(d.seen_seq, excluded.seen_seq),
                   seen_count = d.seen_count + excluded.seen_count,
                   updated_at = now()
             returning d.org_id
           ), created as (
             insert into audit_chain_state (org_id)
             select org_id from counted
             on conflict on constraint audit_chain_state_org_unique do nothing
             returning 1
           )
           select (select count(*) from counted)::int as chains, (select count(*) from created)::int as new_chains`,
    values: [fromSeq.toString(), toSeq.toString()],
  };
}

/** The lowest chain_seq in (afterSeq, upToSeq], through the BRIN index: where a gap in chain_seq ends. */
export function readNextChainSeq(afterSeq: bigint, upToSeq: bigint): Query {
  return {
    text: `select min(chain_seq)::text as next_seq from audit_logs where chain_seq > $1 and chain_seq <= $2`,
    values: [afterSeq.toString(), upToSeq.toString()],
  };
}

/** Compare-and-set on the discovery position, so two discoverers never count a range twice. */
export function advanceDiscovered(fromSeq: bigint, toSeq: bigint): Query {
  return {
    text: `update audit_chain_progress set discovered_seq = $2, discovered_at = now()
            where id = 1 and discovered_seq = $1`,
    values: [fromSeq.toString(), toSeq.toString()],
  };
}

/** Chains with discovered rows above their watermark, and not halted; most behind first. */
export function listChainsToSeal(limit: number): Query {
  return {
    text: `select d.org_id::text as org_id, s.watermark_seq::text, d.seen_seq::text
             from audit_chain_discovery d
             join audit_chain_state s
               on coalesce(s.org_id, '00000000-0000-0000-0000-000000000000'::uuid)
                = coalesce(d.org_id, '00000000-0000-0000-0000-000000000000'::uuid)
            where d.seen_seq > s.watermark_seq and s.halted_at is null
            order by d.seen_count - s.sealed_count desc
            limit $1`,
    values: [limit],
  };
}
