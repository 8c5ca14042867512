// How a worker thread hands a segment's checked rows back: the fields the
// chain verifier reads of every row, one array per field (cheaper to copy
// between threads than an object per row), and the few rows the verifier may
// need whole (a failed or uncomputed content check) with their verdicts.
import { AUDIT_LOGS_V2, checkRowContent, checkRowV2, KNOWN_CHECKSUM_VERSIONS, type CheckedRow, type ContentProblem, type StoredRow } from '@audit-chain/chain';
import { chainColumnsOf, storedRowOf, v2ValuesInPlace } from './raw-segment.ts';

export interface PackedRows {
  chainSeq: string[];
  id: string[];
  /** undefined: the previous row's (every row of a segment has its chain's; each copied string costs the receiving thread). */
  orgId: (string | null | undefined)[];
  /** undefined: the previous row's checksum (the usual intact link), sent once. */
  prevChecksum: (string | null | undefined)[];
  checksum: (string | null)[];
  checksumVersion: (number | null)[];
  redacted: boolean[];
  /** Rows sent whole, by position: content undefined when it was not computed (the verifier computes it). */
  whole: { at: number; row: StoredRow; content: ContentProblem | null | undefined }[];
  /** The last added row's org_id (while adding). */
  lastOrgId?: string | null;
}

export function emptyPackedRows(): PackedRows {
  return { chainSeq: [], id: [], orgId: [], prevChecksum: [], checksum: [], checksumVersion: [], redacted: [], whole: [] };
}

type Links = Pick<StoredRow, 'chainSeq' | 'id' | 'orgId' | 'prevChecksum' | 'checksum' | 'checksumVersion' | 'redacted'>;

/** Adds the fields of a row the verifier reads; returns its position. */
function addLinks(packed: PackedRows, row: Links): number {
  const at = packed.chainSeq.length;
  packed.chainSeq.push(row.chainSeq);
  packed.id.push(row.id);
  packed.orgId.push(at > 0 && packed.lastOrgId === row.orgId ? undefined : row.orgId);
  packed.prevChecksum.push(at > 0 && row.prevChecksum !== null && packed.checksum[at - 1] === row.prevChecksum ? undefined : row.prevChecksum);
  packed.checksum.push(row.checksum);
  packed.checksumVersion.push(row.checksumVersion);
  packed.redacted.push(row.redacted);
  packed.lastOrgId = row.orgId;
  return at;
}

/**
 * Checks a row's content (the hashing) and adds it. The verifier asks for the
 * content verdict only of a row that has a checksum of a known version, so the
 * others go without one. A check that throws is left to the verifier, which
 * then throws the same error at the same row.
 */
export function addCheckedRow(packed: PackedRows, row: StoredRow): void {
  const at = addLinks(packed, row);
  if (row.checksum === null || row.checksumVersion === null || !KNOWN_CHECKSUM_VERSIONS.includes(row.checksumVersion)) return;
  let content: ContentProblem | null | undefined;
  try {
    content = checkRowContent(row);
  } catch {
    content = undefined;
  }
  if (content !== null) packed.whole.push({ at, row, content });
}

/**
 * addCheckedRow for a row read raw (raw-segment.ts), without building the
 * StoredRow of a row whose content holds. A format v2 row is checked by the
 * same call checkRowContent makes; any other checked row through checkRowContent
 * itself. Consumes the array (its values become the row's v2 values).
 */
export function addRawRow(packed: PackedRows, raw: (string | null)[]): void {
  const chain = chainColumnsOf(raw);
  const at = addLinks(packed, chain);
  if (chain.checksum === null || chain.checksumVersion === null || !KNOWN_CHECKSUM_VERSIONS.includes(chain.checksumVersion)) return;
  const values = v2ValuesInPlace(raw);
  let content: ContentProblem | null | undefined;
  try {
    if (chain.checksumVersion === 2) {
      content = checkRowV2(AUDIT_LOGS_V2, {
        chainKey: chain.orgId,
        chainSeq: chain.chainSeq,
        values,
        prevChecksum: chain.prevChecksum as string,
        checksum: chain.checksum,
        piiDigest: chain.piiDigest,
        piiSalt: chain.piiSalt,
        redacted: chain.redacted,
      });
      if (content === null) return;
    } else {
      content = checkRowContent(storedRowOf(values, chain));
    }
  } catch {
    content = undefined;
  }
  if (content !== null) packed.whole.push({ at, row: storedRowOf(values, chain), content });
}

/** The rows again, in order, as the chain verifier takes them. */
export function* unpackRows(packed: PackedRows): Generator<CheckedRow> {
  let next = 0;
  let orgId: string | null = null;
  let previousChecksum: string | null = null;
  for (let at = 0; at < packed.chainSeq.length; at += 1) {
    const packedOrg = packed.orgId[at];
    if (packedOrg !== undefined) orgId = packedOrg;
    const packedPrev = packed.prevChecksum[at];
    const prevChecksum = packedPrev === undefined ? previousChecksum : packedPrev;
    previousChecksum = item(packed.checksum, at);
    const whole = packed.whole[next];
    if (whole?.at === at) {
      next += 1;
      yield whole.content === undefined ? { row: whole.row } : { row: whole.row, content: whole.content };
      continue;
    }
    yield {
      row: {
        id: item(packed.id, at),
        orgId,
        chainSeq: item(packed.chainSeq, at),
        prevChecksum,
        checksum: previousChecksum,
        checksumVersion: item(packed.checksumVersion, at),
        redacted: item(packed.redacted, at),
      },
      content: null,
    };
  }
}

/** The array's element at an index known to be in range (null is a value, not absence). */
function item<T>(list: readonly T[], at: number): T {
  return list[at] as T;
}
