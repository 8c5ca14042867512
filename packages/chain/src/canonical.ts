// Canonical checksum, format version 1. The bytes hashed are specified in
// docs/chain-format.md; this module MUST stay in step with that page and with
// the committed test vectors (test-vectors/v1.json).
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import {
  assertChainSeq,
  assertHex64,
  assertJsonValue,
  assertNullableText,
  assertRowTimestamp,
  assertSalt,
  assertText,
  assertUuid,
  CanonicalFormError,
} from './row-validation.ts';

export { CanonicalFormError } from './row-validation.ts';

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

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * RFC 8785 for the two fixed envelopes, written out instead of going through the
 * general serializer (the sealer's hot path): members in UTF-16 code-unit order
 * of their names, each value already in its RFC 8785 form. Strings are
 * serialized by JSON.stringify, which is the RFC's string rule for the
 * well-formed strings that validation lets through. The vectors test holds this
 * byte for byte to the general serializer and to the independent reference.
 */
function envelope(members: Record<string, string>): string {
  const names = Object.keys(members).sort();
  let text = '{';
  for (let index = 0; index < names.length; index += 1) {
    const name = names[index]!;
    text += `${index === 0 ? '' : ','}"${name}":${members[name]}`;
  }
  return `${text}}`;
}

function textOrNull(value: string | null): string {
  return value === null ? 'null' : JSON.stringify(value);
}

function jcs(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new CanonicalFormError('value has no JSON form');
  return text;
}

/** The exact text whose SHA-256 is pii_digest (v1). */
export function personalDigestInput(fields: PersonalFields, salt: string): string {
  assertSalt(salt);
  assertPersonalFields(fields);
  return envelope({
    v: String(CHECKSUM_VERSION),
    salt: JSON.stringify(salt),
    actor_email: textOrNull(fields.actorEmail),
    ip_address: textOrNull(fields.ipAddress),
    user_agent: textOrNull(fields.userAgent),
  });
}

export function personalDigest(fields: PersonalFields, salt: string): string {
  return sha256Hex(personalDigestInput(fields, salt));
}

/** The exact text whose SHA-256 is the row's checksum (v1). */
export function checksumInput(row: RowContent, prevChecksum: string, piiDigest: string): string {
  assertCanonical(row);
  assertHex64('prev_checksum', prevChecksum);
  assertHex64('pii_digest', piiDigest);
  return envelope({
    v: String(CHECKSUM_VERSION),
    prev_checksum: JSON.stringify(prevChecksum),
    id: JSON.stringify(row.id),
    org_id: textOrNull(row.orgId),
    chain_seq: JSON.stringify(row.chainSeq),
    occurred_at: JSON.stringify(row.occurredAt),
    recorded_at: JSON.stringify(row.recordedAt),
    actor_type: JSON.stringify(row.actorType),
    actor_id: textOrNull(row.actorId),
    action: JSON.stringify(row.action),
    resource_type: textOrNull(row.resourceType),
    resource_id: textOrNull(row.resourceId),
    resource_name: textOrNull(row.resourceName),
    details: row.details === null ? 'null' : `[${jcs(row.details.json)}]`,
    result: JSON.stringify(row.result),
    error_message: textOrNull(row.errorMessage),
    pii_digest: JSON.stringify(piiDigest),
  });
}

export function rowChecksum(row: RowContent, prevChecksum: string, piiDigest: string): string {
  return sha256Hex(checksumInput(row, prevChecksum, piiDigest));
}

function assertPersonalFields(fields: PersonalFields): void {
  assertNullableText('actor_email', fields.actorEmail);
  assertNullableText('ip_address', fields.ipAddress);
  assertNullableText('user_agent', fields.userAgent);
}

/**
 * Every value must have exactly the type and text form the format describes:
 * the personal fields are not hashed here (their digest is), but an `undefined`
 * anywhere else would silently drop a key from the hashed object.
 */
function assertCanonical(row: RowContent): void {
  assertUuid('id', row.id, false);
  assertUuid('org_id', row.orgId, true);
  assertChainSeq('chain_seq', row.chainSeq);
  assertRowTimestamp('occurred_at', row.occurredAt);
  assertRowTimestamp('recorded_at', row.recordedAt);
  assertText('actor_type', row.actorType);
  assertNullableText('actor_id', row.actorId);
  assertText('action', row.action);
  assertNullableText('resource_type', row.resourceType);
  assertNullableText('resource_id', row.resourceId);
  assertNullableText('resource_name', row.resourceName);
  assertText('result', row.result);
  assertNullableText('error_message', row.errorMessage);
  if (row.details !== null) {
    if (typeof row.details !== 'object' || !('json' in row.details)) {
      throw new CanonicalFormError(`details: got ${typeof row.details}, want null (SQL NULL) or { json: value }`);
    }
    assertJsonValue('details', row.details.json);
  }
}
