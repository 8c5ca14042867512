// Storage reads for verification: a chain's rows in chain_seq order, page by
// page (keyset on the (org_id, chain_seq) index), so memory stays constant
// whatever the chain's length. Run inside one REPEATABLE READ transaction so the
// chain state and the rows come from the same snapshot.
import { sqlState } from '@audit-chain/db';
import type pg from 'pg';
import type { StoredRow } from '@audit-chain/chain';
import { CANONICAL_COLUMNS, CHAIN_COLUMNS, toRowContent, v2ValuesOf, type CanonicalRow } from './rows.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

interface StoredDbRow extends CanonicalRow {
  prev_checksum: string | null;
  checksum: string | null;
  checksum_version: number | null;
  pii_digest: string | null;
  pii_salt: string | null;
  /** The row has a redaction marker (audit_chain_redactions, drizzle/0016_erasure.sql). */
  redacted: boolean;
}

export function toStoredRow(row: StoredDbRow): StoredRow {
  return {
    ...toRowContent(row),
    prevChecksum: row.prev_checksum,
    checksum: row.checksum,
    checksumVersion: row.checksum_version,
    piiDigest: row.pii_digest,
    piiSalt: row.pii_salt,
    // Only the marker makes a row redacted: a row whose personal fields or salt
    // were erased without it is reported by verification.
    redacted: row.redacted,
    v2Values: v2ValuesOf(row),
  };
}

export interface StreamChainOptions {
  /** Read rows with chain_seq above this (e.g. a starting checkpoint's). */
  afterSeq?: bigint;
  pageSize?: number;
}

export async function* streamChainRows(db: Queryable, orgId: string | null, options: StreamChainOptions = {}): AsyncGenerator<StoredRow> {
  const pageSize = options.pageSize ?? 2000;
  let after = options.afterSeq ?? 0n;
  const orgClause = orgId === null ? 'a.org_id is null' : 'a.org_id = $3::uuid';
  while (true) {
    const values: unknown[] = [after.toString(), pageSize];
    if (orgId !== null) values.push(orgId);
    const page = await db.query<StoredDbRow>(
      `select ${CANONICAL_COLUMNS}, ${CHAIN_COLUMNS},
              exists (select 1 from audit_chain_redactions r where r.chain_seq = a.chain_seq and r.row_id = a.id) as redacted
         from audit_logs a
        where ${orgClause} and a.chain_seq > $1
        order by a.org_id, a.chain_seq
        limit $2`,
      values,
    );
    for (const row of page.rows) yield toStoredRow(row);
    if (page.rows.length < pageSize) return;
    after = BigInt(page.rows[page.rows.length - 1]!.chain_seq);
  }
}

export interface ChainStateRow {
  orgId: string | null;
  watermarkSeq: string;
  headChecksum: string | null;
  sealedCount: string;
  /** Set when the sealer halted the chain (and why): verification reports it as a break. */
  haltedAt: string | null;
  haltedReason: string | null;
}

/** Every chain the database knows of: those with a state row (discovered ones all have one). */
export async function listChainStates(db: Queryable, orgId?: string | null): Promise<ChainStateRow[]> {
  const filter = orgId === undefined ? '' : orgId === null ? 'where org_id is null' : 'where org_id = $1::uuid';
  const result = await db.query<{ org_id: string | null; watermark_seq: string; head_checksum: string | null; sealed_count: string; halted_at: string | null; halted_reason: string | null }>(
    `select org_id::text, watermark_seq::text, head_checksum, sealed_count::text,
            to_char(halted_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as halted_at, halted_reason
       from audit_chain_state ${filter}
      order by org_id nulls first`,
    orgId === undefined || orgId === null ? [] : [orgId],
  );
  return result.rows.map((row) => ({
    orgId: row.org_id,
    watermarkSeq: row.watermark_seq,
    headChecksum: row.head_checksum,
    sealedCount: row.sealed_count,
    haltedAt: row.halted_at,
    haltedReason: row.halted_reason,
  }));
}

/**
 * Every chain that has rows, whatever the chain states say (a deleted state row
 * must not hide a chain from verification). A loose index scan over the
 * (org_id, chain_seq) index: one probe per chain, not one read per row.
 */
export async function listChainsInRows(db: Queryable): Promise<(string | null)[]> {
  let result;
  try {
    result = await db.query<{ org_id: string | null }>(
      `with recursive orgs as (
         (select a.org_id from audit_logs a where a.org_id is not null order by a.org_id limit 1)
         union all
         select (select a.org_id from audit_logs a where a.org_id > o.org_id order by a.org_id limit 1)
           from orgs o where o.org_id is not null
       )
       select null::text as org_id where exists (select 1 from audit_logs where org_id is null)
       union all
       select org_id::text from orgs where org_id is not null`,
    );
  } catch (error) {
    // Citus plans no recursive CTE over a distributed table (0A000); there each
    // shard lists its distinct chain keys and the coordinator merges them.
    if (sqlState(error) !== '0A000') throw error;
    result = await db.query<{ org_id: string | null }>('select distinct org_id::text as org_id from audit_logs order by 1 nulls first');
  }
  return result.rows.map((row) => row.org_id);
}
