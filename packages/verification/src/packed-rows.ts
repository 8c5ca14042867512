// How a worker thread hands a segment's checked rows back: the fields the
// chain verifier reads of every row, one array per field (cheaper to copy
// between threads than an object per row), and the few rows the verifier may
// need whole (a failed or uncomputed content check) with their verdicts.
import { AUDIT_LOGS_V2, checkRowContent, checkRowV2, KNOWN_CHECKSUM_VERSIONS, type CheckedRow, type ContentProblem, type StoredRow } from '@audit-chain/chain';
import { chainColumnsOf, storedRowOf, v2ValuesInPlace } from './raw-segment.ts';

export interface PackedRows {
  chainSeq: string[];
  id: string[];
  orgId: (string | null)[];
  prevChecksum: (string | null)[];
  checksum: (string | null)[];
  checksumVersion: (number | null)[];
  redacted: boolean[];
  /** Rows sent whole, by position: content undefined when it was not computed (the verifier computes it). */
  whole: { at: number; row: StoredRow; content: ContentProblem | null | undefined }[];
}

export function emptyPackedRows(): PackedRows {
  return { chainSeq: [], id: [], orgId: [], prevChecksum: [], checksum: [], checksumVersion: [], redacted: [], whole: [] };
}

/**
 * Checks a row's content (the hashing) and adds it. The verifier asks for the
 * content verdict only of a row that has a checksum of a known version, so the
 * others go without one. A check that throws is left to the verifier, which
 * then throws the same error at the same row.
 */
export function addCheckedRow(packed: PackedRows, row: StoredRow): void {
  const at = packed.chainSeq.length;
  packed.chainSeq.push(row.chainSeq);
  packed.id.push(row.id);
  packed.orgId.push(row.orgId);
  packed.prevChecksum.push(row.prevChecksum);
  packed.checksum.push(row.checksum);
  packed.checksumVersion.push(row.checksumVersion);
  packed.redacted.push(row.redacted);
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
  const at = packed.chainSeq.length;
  packed.chainSeq.push(chain.chainSeq);
  packed.id.push(chain.id);
  packed.orgId.push(chain.orgId);
  packed.prevChecksum.push(chain.prevChecksum);
  packed.checksum.push(chain.checksum);
  packed.checksumVersion.push(chain.checksumVersion);
  packed.redacted.push(chain.redacted);
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
  for (let at = 0; at < packed.chainSeq.length; at += 1) {
    const whole = packed.whole[next];
    if (whole?.at === at) {
      next += 1;
      yield whole.content === undefined ? { row: whole.row } : { row: whole.row, content: whole.content };
      continue;
    }
    yield {
      row: {
        id: item(packed.id, at),
        orgId: item(packed.orgId, at),
        chainSeq: item(packed.chainSeq, at),
        prevChecksum: item(packed.prevChecksum, at),
        checksum: item(packed.checksum, at),
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
