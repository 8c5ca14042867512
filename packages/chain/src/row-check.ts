// Checks one sealed audit_logs row against its stored chain values, under the
// format its checksum_version names (1 or 2): the salted digest of its personal
// fields (unless redacted) and its checksum.
import { AUDIT_LOGS_ORG_INDEX, AUDIT_LOGS_V2 } from './audit-logs-v2.ts';
import { CanonicalFormError, personalDigest, rowChecksum, type RowContent } from './canonical.ts';
import { checksumVerdict, type ContentProblem } from './checksum-verdict.ts';
import { checkRowV2 } from './format-v2/seal-v2.ts';

export type { ContentProblem } from './checksum-verdict.ts';

/** The checksum versions this verifier knows. */
export const KNOWN_CHECKSUM_VERSIONS: readonly number[] = [1, 2];

/** A row as stored: its content, its chain columns, and whether its personal data was erased. */
export interface StoredRow extends RowContent {
  prevChecksum: string | null;
  checksum: string | null;
  checksumVersion: number | null;
  piiDigest: string | null;
  /** Erased (null) on a redacted row. */
  piiSalt: string | null;
  /** The personal fields and pii_salt were erased on purpose; pii_digest is kept and trusted as stored. */
  redacted: boolean;
  /** Format v2 texts of AUDIT_LOGS_COLUMNS_V2, in that order (needed for checksum_version 2). */
  v2Values?: readonly (string | null)[] | null;
}

const PERSONAL = [
  ['actor_email', 'actorEmail'],
  ['ip_address', 'ipAddress'],
  ['user_agent', 'userAgent'],
] as const;

function personalProblem(row: StoredRow): Omit<ContentProblem, 'part'> | null {
  if (row.redacted) {
    const kept: string[] = PERSONAL.filter(([, field]) => row[field] !== null).map(([column]) => column);
    if (row.piiSalt !== null) kept.push('pii_salt');
    if (kept.length === 0) return null;
    return {
      expected: null,
      found: kept.join(', '),
      message: `the row is marked redacted but still has ${kept.join(', ')}: a redacted row keeps only pii_digest, so these values are not covered by it`,
    };
  }
  if (row.piiSalt === null) {
    return { expected: 'pii_salt', found: null, message: 'pii_salt is missing on a row not marked redacted: its personal fields cannot be checked' };
  }
  let digest: string;
  try {
    digest = personalDigest(row, row.piiSalt);
  } catch (error) {
    if (!(error instanceof CanonicalFormError)) throw error;
    return { expected: row.piiDigest, found: null, message: `cannot recompute pii_digest: ${error.message}` };
  }
  if (digest === row.piiDigest) return null;
  return {
    expected: row.piiDigest,
    found: digest,
    message: 'pii_digest does not recompute: actor_email, ip_address, user_agent or pii_salt changed since the row was sealed',
  };
}

/** The checksum computed from the row's content with the given org_id, or a CanonicalFormError. */
export function recomputeChecksum(row: StoredRow, orgId: string | null): string {
  if (row.checksumVersion === 2) {
    const values = [...v2ValuesOf(row)];
    values[AUDIT_LOGS_ORG_INDEX] = orgId;
    return AUDIT_LOGS_V2.checksum({ chainKey: orgId, chainSeq: row.chainSeq, values }, { prevChecksum: row.prevChecksum as string, piiDigest: row.piiDigest as string });
  }
  return rowChecksum(orgId === row.orgId ? row : { ...row, orgId }, row.prevChecksum as string, row.piiDigest as string);
}

/** null when the row's stored pii_digest and checksum both hold for its content. */
export function checkRowContent(row: StoredRow): ContentProblem | null {
  if (row.checksumVersion === 2) {
    return checkRowV2(AUDIT_LOGS_V2, {
      chainKey: row.orgId,
      chainSeq: row.chainSeq,
      values: v2ValuesOf(row),
      prevChecksum: row.prevChecksum as string,
      checksum: row.checksum as string,
      piiDigest: row.piiDigest,
      piiSalt: row.piiSalt,
      redacted: row.redacted,
    });
  }
  const personal = personalProblem(row);
  let recomputed: string;
  try {
    recomputed = recomputeChecksum(row, row.orgId);
  } catch (error) {
    if (!(error instanceof CanonicalFormError)) throw error;
    return { part: 'unreadable', expected: row.checksum, found: null, message: `cannot recompute the checksum: ${error.message}` };
  }
  return checksumVerdict(row.checksum, recomputed, personal, 'content');
}

function v2ValuesOf(row: StoredRow): readonly (string | null)[] {
  if (!row.v2Values) throw new CanonicalFormError(`chain_seq ${row.chainSeq}: a checksum_version 2 row was read without its format v2 values`);
  return row.v2Values;
}
