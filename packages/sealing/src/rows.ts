// How audit rows are read for hashing: every value in its canonical text form,
// produced by PostgreSQL itself so that no session setting (TimeZone, DateStyle)
// and no JavaScript Date rounding can change the bytes (docs/chain-format.md).
import type { RowContent } from '@audit-chain/chain';

/**
 * UTC, microseconds. to_char prints 1 BC as year 0001, so a BC timestamp gets a
 * suffix that the canonical form refuses: such a row halts its chain instead of
 * being hashed as the wrong year.
 */
function canonicalTimestamp(column: string): string {
  return `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    || case when ${column} < '0001-01-01 00:00:00+00' then ' BC' else '' end`;
}

/**
 * Select list over `audit_logs a` giving the canonical content of a row.
 * chain_seq is selected as itself (node-pg returns a bigint as a string anyway):
 * an output column `chain_seq` of another type would be what `order by
 * a.chain_seq` sorts by wherever Citus sends the query, since it deparses that
 * as a bare `order by chain_seq` (text order: 187 before 19).
 */
export const CANONICAL_COLUMNS = `
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
