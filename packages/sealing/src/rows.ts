// How audit rows are read for hashing: every value in its canonical text form,
// produced by PostgreSQL itself so that no session setting (TimeZone, DateStyle)
// and no JavaScript Date rounding can change the bytes (docs/chain-format.md).
import { AUDIT_LOGS_COLUMNS_V2, selectListV2, valueSql, valuesFromResult, type RowContent, type RowV2 } from '@audit-chain/chain';

/**
 * UTC, microseconds, as format v2 writes a timestamptz (the same text as v1 for
 * years 0001-9999). A year v1 cannot hash (BC, after 9999, infinity) gets a text
 * v1's canonical form refuses, so such a row is never hashed as the wrong year
 * under v1; v2 hashes it exactly.
 */
function canonicalTimestamp(column: string): string {
  return valueSql(column, 'timestamp with time zone');
}

/** Select list over `audit_logs a` giving the format v2 texts of a row's covered columns, as v2_0, v2_1, ... */
export const CANONICAL_COLUMNS_V2 = selectListV2(AUDIT_LOGS_COLUMNS_V2, 'a', 'v2_');

/** What the sealer reads of a pending row under format v2. */
export const PENDING_COLUMNS_V2 = `a.org_id::text as org_id, a.chain_seq, ${CANONICAL_COLUMNS_V2}`;

/** The format v2 values read with CANONICAL_COLUMNS_V2. */
export function v2ValuesOf(row: object): (string | null)[] {
  return valuesFromResult(row as Record<string, unknown>, AUDIT_LOGS_COLUMNS_V2.length, 'v2_');
}

/** A pending row read with PENDING_COLUMNS_V2, as format v2 hashes it (chain key: org_id). */
export function toRowV2(row: { org_id: string | null; chain_seq: string }): RowV2 {
  return { chainKey: row.org_id, chainSeq: row.chain_seq, values: v2ValuesOf(row) };
}

/**
 * Select list over `audit_logs a` giving the canonical content of a row under both
 * formats (v1 members, then the v2 texts), for reading sealed rows of either version.
 * chain_seq is selected as itself (node-pg returns a bigint as a string anyway):
 * an output column `chain_seq` of another type would be what `order by
 * a.chain_seq` sorts by wherever Citus sends the query, since it deparses that
 * as a bare `order by chain_seq` (text order: 187 before 19).
 */
export const CANONICAL_COLUMNS = `${CANONICAL_COLUMNS_V2},
  a.id::text as id,
  a.org_id::text as org_id,
  a.chain_seq,
  ${canonicalTimestamp('a.occurred_at')} as occurred_at,
  ${canonicalTimestamp('a.recorded_at')} as recorded_at,
  a.actor_type, a.actor_id, a.actor_email, a.action,
  a.resource_type, a.resource_id, a.resource_name,
  a.details::text as details,
  a.ip_address, a.user_agent, a.result, a.error_message`;

/** Select list of the stored chain columns, for verification. */
export const CHAIN_COLUMNS = `
  a.prev_checksum, a.checksum, a.checksum_version, a.pii_digest, a.pii_salt`;

export interface CanonicalRow {
  id: string;
  org_id: string | null;
  chain_seq: string;
  occurred_at: string;
  recorded_at: string;
  actor_type: string;
  actor_id: string | null;
  actor_email: string | null;
  action: string;
  resource_type: string | null;
  resource_id: string | null;
  resource_name: string | null;
  details: string | null;
  ip_address: string | null;
  user_agent: string | null;
  result: string;
  error_message: string | null;
}

export function toRowContent(row: CanonicalRow): RowContent {
  return {
    id: row.id,
    orgId: row.org_id,
    chainSeq: row.chain_seq,
    occurredAt: row.occurred_at,
    recordedAt: row.recorded_at,
    actorType: row.actor_type,
    actorId: row.actor_id,
    actorEmail: row.actor_email,
    action: row.action,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    resourceName: row.resource_name,
    details: row.details === null ? null : { json: JSON.parse(row.details) },
    ipAddress: row.ip_address,
    userAgent: row.user_agent,
    result: row.result,
    errorMessage: row.error_message,
  };
}

/** The pg-boss singleton key and log label of a chain. */
export function chainKey(orgId: string | null): string {
  return orgId ?? 'system';
}
