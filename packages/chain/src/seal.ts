// Pure sealing step: given a chain's head and its next pending rows in chain_seq
// order, compute each row's links. Storage and randomness are the caller's.
import { CHECKSUM_VERSION, GENESIS_PREV_CHECKSUM, personalDigest, rowChecksum, type RowContent } from './canonical.ts';

export interface ChainLink {
  chainSeq: string;
  prevChecksum: string;
  checksum: string;
  checksumVersion: number;
  piiDigest: string;
  piiSalt: string;
}

export interface SealBatchInput {
  /** checksum of the last sealed row of the chain; null before the first. */
  headChecksum: string | null;
  /** Pending rows, strictly increasing chain_seq, all of one chain. */
  rows: readonly RowContent[];
  /** Fresh random salt per row: 32 lowercase hex digits. */
  newSalt: () => string;
}

export function sealBatch({ headChecksum, rows, newSalt }: SealBatchInput): ChainLink[] {
  const links: ChainLink[] = [];
  let prev = headChecksum ?? GENESIS_PREV_CHECKSUM;
  let previousSeq = -1n;
  for (const row of rows) {
    const seq = BigInt(row.chainSeq);
    if (seq <= previousSeq) throw new Error(`rows out of order: got chain_seq ${row.chainSeq} after ${previousSeq}, want increasing`);
    previousSeq = seq;
    const piiSalt = newSalt();
    const piiDigest = personalDigest(row, piiSalt);
    const checksum = rowChecksum(row, prev, piiDigest);
    links.push({ chainSeq: row.chainSeq, prevChecksum: prev, checksum, checksumVersion: CHECKSUM_VERSION, piiDigest, piiSalt });
    prev = checksum;
  }
  return links;
}
