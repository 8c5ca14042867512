// Canonical checksum, format version 1. The bytes hashed are specified in
// docs/chain-format.md; this module MUST stay in step with that page and with
// the committed test vectors (test-vectors/v1.json).
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

export const CHECKSUM_VERSION = 1;

/** prev_checksum of the first row of every chain. */
export const GENESIS_PREV_CHECKSUM = '0'.repeat(64);

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The content of an audit row as the chain sees it: every column a writer supplies. */
export interface RowContent {
  id: string;
  /** NULL: the system chain. */
  orgId: string | null;
  /** Decimal digits, no sign, no leading zeros. */
  chainSeq: string;
  /** UTC, microseconds: 2026-11-23T01:02:03.456789Z */
  occurredAt: string;
  recordedAt: string;
  actorType: string;
  actorId: string | null;
  actorEmail: string | null;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  resourceName: string | null;
  /** SQL NULL is `null`; a JSON null stored in the column is `{ json: null }`. */
  details: { json: JsonValue } | null;
  /** PostgreSQL's text output of the inet value. */
  ipAddress: string | null;
  userAgent: string | null;
  result: string;
  errorMessage: string | null;
}

/** The personal fields, which may later be erased; the checksum commits to their salted digest. */
export type PersonalFields = Pick<RowContent, 'actorEmail' | 'ipAddress' | 'userAgent'>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const SEQ = /^[1-9]\d*$/;
const HEX64 = /^[0-9a-f]{64}$/;
const SALT = /^[0-9a-f]{32}$/;

export class CanonicalFormError extends Error {
  override name = 'CanonicalFormError';
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function jcs(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new CanonicalFormError('value has no JSON form');
  return text;
}

/** The exact text whose SHA-256 is pii_digest (v1). */
export function personalDigestInput(fields: PersonalFields, salt: string): string {
  if (!SALT.test(salt)) throw new CanonicalFormError(`pii_salt: got ${JSON.stringify(salt)}, want 32 lowercase hex digits`);
  return jcs({
    v: CHECKSUM_VERSION,
    salt,
    actor_email: fields.actorEmail,
    ip_address: fields.ipAddress,
    user_agent: fields.userAgent,
  });
}

export function personalDigest(fields: PersonalFields, salt: string): string {
  return sha256Hex(personalDigestInput(fields, salt));
}

/** The exact text whose SHA-256 is the row's checksum (v1). */
export function checksumInput(row: RowContent, prevChecksum: string, piiDigest: string): string {
  assertCanonical(row);
  if (!HEX64.test(prevChecksum)) throw new CanonicalFormError(`prev_checksum: got ${JSON.stringify(prevChecksum)}, want 64 lowercase hex digits`);
  if (!HEX64.test(piiDigest)) throw new CanonicalFormError(`pii_digest: got ${JSON.stringify(piiDigest)}, want 64 lowercase hex digits`);
  return jcs({
    v: CHECKSUM_VERSION,
    prev_checksum: prevChecksum,
    id: row.id,
    org_id: row.orgId,
    chain_seq: row.chainSeq,
    occurred_at: row.occurredAt,
    recorded_at: row.recordedAt,
    actor_type: row.actorType,
    actor_id: row.actorId,
    action: row.action,
    resource_type: row.resourceType,
    resource_id: row.resourceId,
    resource_name: row.resourceName,
    details: row.details === null ? null : [row.details.json],
    result: row.result,
    error_message: row.errorMessage,
    pii_digest: piiDigest,
  });
}

export function rowChecksum(row: RowContent, prevChecksum: string, piiDigest: string): string {
  return sha256Hex(checksumInput(row, prevChecksum, piiDigest));
}

function assertCanonical(row: RowContent): void {
  if (!UUID.test(row.id)) throw new CanonicalFormError(`id: got ${JSON.stringify(row.id)}, want a lowercase UUID`);
  if (row.orgId !== null && !UUID.test(row.orgId)) {
    throw new CanonicalFormError(`org_id: got ${JSON.stringify(row.orgId)}, want a lowercase UUID or null`);
  }
  if (!SEQ.test(row.chainSeq)) throw new CanonicalFormError(`chain_seq: got ${JSON.stringify(row.chainSeq)}, want a positive decimal`);
  for (const [name, value] of [['occurred_at', row.occurredAt], ['recorded_at', row.recordedAt]] as const) {
    if (!TIMESTAMP.test(value)) throw new CanonicalFormError(`${name}: got ${JSON.stringify(value)}, want YYYY-MM-DDTHH:MM:SS.ffffffZ`);
  }
}
