// Format v2, part 3: sealing rows of a chain and checking a sealed row, for any
// layout (table). Storage, randomness and the chain's order are the caller's.
import { hash } from 'node:crypto';
import { GENESIS_PREV_CHECKSUM } from '../canonical.ts';
import { checksumVerdict, type ContentProblem } from '../checksum-verdict.ts';
import { CanonicalFormError, HEX64, SALT } from '../row-validation.ts';
import { FORMAT_V2, type FormatV2Layout, type RowV2 } from './canonical-v2.ts';
import { compiledLayoutV2 } from './compiled-v2.ts';

export interface LinkV2 {
  chainSeq: string;
  prevChecksum: string;
  checksum: string;
  checksumVersion: typeof FORMAT_V2;
  piiDigest: string;
  piiSalt: string;
}

export interface SealRowsV2Input {
  /** checksum of the chain's last sealed row; null before the first (genesis). */
  headChecksum: string | null;
  /** Pending rows of one chain, strictly increasing chain_seq. */
  rows: readonly RowV2[];
  /** Fresh random salt per row: 32 lowercase hex digits (16 bytes from a CSPRNG). */
  newSalt: () => string;
}

/** Links a batch of pending rows after the chain's head. Throws CanonicalFormError on a row it cannot hash exactly. */
export function sealRowsV2(layout: FormatV2Layout, { headChecksum, rows, newSalt }: SealRowsV2Input): LinkV2[] {
  const links: LinkV2[] = [];
  let prev = headChecksum ?? GENESIS_PREV_CHECKSUM;
  let previousSeq = -1n;
  for (const row of rows) {
    const seq = BigInt(row.chainSeq);
    if (seq <= previousSeq) throw new Error(`rows out of order: got chain_seq ${row.chainSeq} after ${previousSeq}, want increasing`);
    previousSeq = seq;
    const piiSalt = newSalt();
    const { piiDigest, checksum } = layout.seal(row, prev, piiSalt);
    links.push({ chainSeq: row.chainSeq, prevChecksum: prev, checksum, checksumVersion: FORMAT_V2, piiDigest, piiSalt });
    prev = checksum;
  }
  return links;
}

/** A v2 row as stored: its read values and its chain columns. */
export interface StoredRowV2 extends RowV2 {
  prevChecksum: string;
  checksum: string;
  piiDigest: string | null;
  /** Erased (null) on a redacted row. */
  piiSalt: string | null;
  /** The personal values and pii_salt were erased on purpose; pii_digest is trusted as stored. */
  redacted: boolean;
}

/** What checkRowV2 reports: the same shape as a format v1 row's problem. */
export type ProblemV2 = ContentProblem;

function personalProblemV2(layout: FormatV2Layout, row: StoredRowV2): Omit<ProblemV2, 'part'> | null {
  const personal = layout.personalIndexes();
  if (row.redacted) {
    const kept = personal.filter((index) => row.values[index] !== null).map((index) => layout.columns[index]!.name);
    if (row.piiSalt !== null) kept.push('pii_salt');
    if (kept.length === 0) return null;
    return {
      expected: null,
      found: kept.join(', '),
      message: `the row is marked redacted but still has ${kept.join(', ')}: a redacted row keeps only pii_digest, so these values are not covered by it`,
    };
  }
  if (row.piiSalt === null) {
    return { expected: 'pii_salt', found: null, message: 'pii_salt is missing on a row not marked redacted: its personal values cannot be checked' };
  }
  if (!SALT.test(row.piiSalt)) {
    return { expected: 'pii_salt', found: row.piiSalt, message: 'pii_salt is not 32 lowercase hex digits: the personal values cannot be checked' };
  }
  // The compiled encoding: the general one's bytes and refusals (compiled-v2.test.ts), at a verifier's pace.
  const digest = hash('sha256', compiledLayoutV2(layout).personalDigestInput(row.values, row.piiSalt), 'hex');
  if (digest === row.piiDigest) return null;
  const names = personal.map((index) => layout.columns[index]!.name).join(', ');
  return { expected: row.piiDigest, found: digest, message: `pii_digest does not recompute: ${names || 'no personal column'} or pii_salt changed since the row was sealed` };
}

/** null when the stored pii_digest and checksum both hold for the row's values (format v2). */
export function checkRowV2(layout: FormatV2Layout, row: StoredRowV2): ProblemV2 | null {
  if (row.piiDigest === null || !HEX64.test(row.piiDigest)) {
    return { part: 'unreadable', expected: row.checksum, found: null, message: `cannot recompute the checksum: pii_digest is ${JSON.stringify(row.piiDigest)}, want 64 lowercase hex digits` };
  }
  let personal: Omit<ProblemV2, 'part'> | null;
  let recomputed: string;
  try {
    personal = personalProblemV2(layout, row);
    recomputed = hash('sha256', compiledLayoutV2(layout).checksumInput(row, { prevChecksum: row.prevChecksum, piiDigest: row.piiDigest }), 'hex');
  } catch (error) {
    if (!(error instanceof CanonicalFormError)) throw error;
    return { part: 'unreadable', expected: row.checksum, found: null, message: `cannot recompute the checksum: ${error.message}` };
  }
  return checksumVerdict(row.checksum, recomputed, personal, 'values');
}
