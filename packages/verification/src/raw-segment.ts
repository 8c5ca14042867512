// The fast read of a segment (verify-segment-worker.ts): every column as it is
// stored, in PostgreSQL's plain text output, one array per row, and the format
// v2 texts built here in Node. The canonical SQL expressions the sequential
// verifier reads (packages/sealing/src/rows.ts) cost PostgreSQL about 6 µs a row,
// most of its share of verifying; the plain output costs it little more than
// `select *`. Only timestamptz's output needs work to become its canonical text,
// and it is session-independent once the session sets TimeZone and DateStyle
// (rawSegmentSession); every other column's output already is that text
// (uuid, text, jsonb and inet: the 'text' and 'output' encodings). Nothing is
// computed or compared by the database: it hands over the stored values.
//
// A row read here gives the same StoredRow as toStoredRow over the sequential
// read (both formats' content filled), so the verifier sees the same rows.
import { AUDIT_LOGS_COLUMNS_V2, timestamptzFromIsoUtc, type StoredRow } from '@audit-chain/chain';
import type { Query, Segment } from './segment-rows.ts';

/** Session settings the plain output of a timestamptz depends on; set in the reading transaction. */
export const RAW_SEGMENT_SESSION = ["set local timezone = 'UTC'", "set local datestyle = 'ISO, YMD'"];

const COLUMN_COUNT = AUDIT_LOGS_COLUMNS_V2.length;
/** Positions in a raw row after the covered columns. */
const SEQ = COLUMN_COUNT;
const PREV = SEQ + 1;
const CHECKSUM = SEQ + 2;
const VERSION = SEQ + 3;
const PII_DIGEST = SEQ + 4;
const PII_SALT = SEQ + 5;
const REDACTED = SEQ + 6;

function at(name: string): number {
  const index = AUDIT_LOGS_COLUMNS_V2.findIndex((column) => column.name === name);
  if (index < 0) throw new Error(`audit_logs has no covered column ${name}`);
  return index;
}

const I = {
  id: at('id'),
  orgId: at('org_id'),
  occurredAt: at('occurred_at'),
  recordedAt: at('recorded_at'),
  actorType: at('actor_type'),
  actorId: at('actor_id'),
  actorEmail: at('actor_email'),
  action: at('action'),
  resourceType: at('resource_type'),
  resourceId: at('resource_id'),
  resourceName: at('resource_name'),
  details: at('details'),
  ipAddress: at('ip_address'),
  userAgent: at('user_agent'),
  result: at('result'),
  errorMessage: at('error_message'),
};

/** The covered columns whose plain output is not their format v2 text. */
const TIMESTAMPS = AUDIT_LOGS_COLUMNS_V2.flatMap((column, index) => (column.type.startsWith('timestamp') ? [index] : []));
for (const [index, column] of AUDIT_LOGS_COLUMNS_V2.entries()) {
  const plain = ['uuid', 'text', 'jsonb', 'inet'].includes(column.type);
  if (!plain && !TIMESTAMPS.includes(index)) throw new Error(`raw segment read: column ${column.name} of type ${column.type} has no plain-output rule`);
  if (TIMESTAMPS.includes(index) && column.type !== 'timestamp(6) with time zone') throw new Error(`raw segment read: column ${column.name} of type ${column.type} has no plain-output rule`);
}

const SELECT_LIST = [
  ...AUDIT_LOGS_COLUMNS_V2.map((column) => `a.${column.name}`),
  'a.chain_seq',
  'a.prev_checksum',
  'a.checksum',
  'a.checksum_version',
  'a.pii_digest',
  'a.pii_salt',
].join(', ');

/** The redaction marker of each row (drizzle/0016_erasure.sql), probed per row: the exact rule, at about one index descent a row. */
const REDACTED_PROBE = 'exists (select 1 from audit_chain_redactions r where r.chain_seq = a.chain_seq and r.row_id = a.id) as redacted';

/**
 * The segment's rows in chain order, plain output, as arrays (rowMode 'array',
 * every value its text: see RAW_TYPES). With `probeRedactions` each row ends
 * with its redaction marker ('t' or 'f'); without, the caller sets it from
 * selectRedactions (markRedacted).
 */
export function selectRawSegment(segment: Segment, probeRedactions: boolean): Query {
  const values: unknown[] = [segment.afterSeq];
  let org = 'a.org_id is null';
  if (segment.orgId !== null) {
    values.push(segment.orgId);
    org = `a.org_id = $${values.length}::uuid`;
  }
  let upto = '';
  if (segment.uptoSeq !== null) {
    values.push(segment.uptoSeq);
    upto = ` and a.chain_seq <= $${values.length}::bigint`;
  }
  return {
    text: `select ${SELECT_LIST}${probeRedactions ? `, ${REDACTED_PROBE}` : ''} from audit_logs a where ${org} and a.chain_seq > $1::bigint${upto} order by a.org_id, a.chain_seq`,
    values,
  };
}

/**
 * The redaction markers whose chain_seq falls in the segment's range, at most
 * `limit` + 1 of them: the same rows the per-row probe finds, for every row of
 * the segment (a segment's rows all have chain_seq in its range), read once
 * instead of probed per row (the probe cost PostgreSQL about as much as reading
 * the row). More than `limit`: the caller probes per row instead, so memory
 * stays bounded by the segment however many rows were erased.
 */
export function selectRedactions(segment: Segment, limit: number): Query {
  const values: unknown[] = [segment.afterSeq, limit + 1];
  let upto = '';
  if (segment.uptoSeq !== null) {
    values.push(segment.uptoSeq);
    upto = ` and r.chain_seq <= $${values.length}::bigint`;
  }
  return {
    text: `select r.chain_seq::text || '/' || r.row_id::text as key from audit_chain_redactions r where r.chain_seq > $1::bigint${upto} order by r.chain_seq limit $2`,
    values,
  };
}

/** Sets a raw row's redaction marker from the segment's markers (keys as selectRedactions gives them). */
export function markRedacted(raw: (string | null)[], redactions: ReadonlySet<string>): void {
  raw[REDACTED] = redactions.size > 0 && redactions.has(`${raw[SEQ]}/${raw[I.id]}`) ? 't' : 'f';
}

const asText = (value: string): string => value;
/** node-pg type parsers that keep every value as PostgreSQL's text. */
export const RAW_TYPES = { getTypeParser: () => asText };

/** What a content check and the chain verifier read of a raw row besides its covered values. */
export interface RawChainColumns {
  chainSeq: string;
  id: string;
  orgId: string | null;
  prevChecksum: string | null;
  checksum: string | null;
  /** As the sequential read gives it: node-pg parses a smallint with parseInt. */
  checksumVersion: number | null;
  piiDigest: string | null;
  piiSalt: string | null;
  redacted: boolean;
}

export function chainColumnsOf(raw: readonly (string | null)[]): RawChainColumns {
  const version = raw[VERSION] ?? null;
  return {
    chainSeq: raw[SEQ]!,
    id: raw[I.id]!,
    orgId: raw[I.orgId] ?? null,
    prevChecksum: raw[PREV] ?? null,
    checksum: raw[CHECKSUM] ?? null,
    checksumVersion: version === null ? null : Number.parseInt(version, 10),
    piiDigest: raw[PII_DIGEST] ?? null,
    piiSalt: raw[PII_SALT] ?? null,
    redacted: raw[REDACTED] === 't',
  };
}

/**
 * The format v2 values of a raw row, in place: the timestamps turned into their
 * canonical text and the array cut to the covered columns. Read the chain
 * columns (chainColumnsOf) first.
 */
export function v2ValuesInPlace(raw: (string | null)[]): (string | null)[] {
  for (const index of TIMESTAMPS) {
    const value = raw[index];
    if (value !== null && value !== undefined) raw[index] = timestamptzFromIsoUtc(value);
  }
  raw.length = COLUMN_COUNT;
  return raw;
}

/**
 * The row as toStoredRow gives it from the sequential read (both formats'
 * content), from its v2 values (v2ValuesInPlace) and its chain columns.
 */
export function storedRowOf(values: readonly (string | null)[], chain: RawChainColumns): StoredRow {
  const text = (index: number) => values[index] ?? null;
  const details = text(I.details);
  return {
    id: chain.id,
    orgId: chain.orgId,
    chainSeq: chain.chainSeq,
    occurredAt: values[I.occurredAt]!,
    recordedAt: values[I.recordedAt]!,
    actorType: values[I.actorType]!,
    actorId: text(I.actorId),
    actorEmail: text(I.actorEmail),
    action: values[I.action]!,
    resourceType: text(I.resourceType),
    resourceId: text(I.resourceId),
    resourceName: text(I.resourceName),
    details: details === null ? null : { json: JSON.parse(details) },
    ipAddress: text(I.ipAddress),
    userAgent: text(I.userAgent),
    result: values[I.result]!,
    errorMessage: text(I.errorMessage),
    prevChecksum: chain.prevChecksum,
    checksum: chain.checksum,
    checksumVersion: chain.checksumVersion,
    piiDigest: chain.piiDigest,
    piiSalt: chain.piiSalt,
    redacted: chain.redacted,
    v2Values: values,
  };
}
