// Verifies one chain from a stream of stored rows. Storage reads are the
// caller's (an async iterable over a cursor); memory stays constant whatever
// the chain's length, except for the breaks the caller asks to keep.
import type { BreakKind, ChainBreak } from './breaks.ts';
import { ChainVerifier, type ChainVerifierOptions, type CheckedRow, type VerifyCounts } from './chain-verifier.ts';
import type { StoredRow } from './row-check.ts';

export interface VerifyChainInput extends ChainVerifierOptions {
  /** The chain's rows in increasing chain_seq order (after fromCheckpoint's chain_seq, if given). */
  rows: AsyncIterable<StoredRow> | Iterable<StoredRow>;
}

export interface VerifyProgress {
  counts: Readonly<VerifyCounts>;
  lastSeq: string | null;
  breakCount: number;
}

export interface VerifyChainOptions {
  /** Called for every break, in order, before the next row is read. */
  onBreak?: (chainBreak: ChainBreak) => void | Promise<void>;
  /** How many breaks the report keeps (default: all). The rest are counted in breaksOmitted. */
  keepBreaks?: number;
  onProgress?: (progress: VerifyProgress) => void;
  /** Rows between two onProgress calls (default 1000); onProgress is also called once at the end. */
  progressEvery?: number;
}

export interface VerifyReport {
  orgId: string | null;
  ok: boolean;
  counts: VerifyCounts;
  breakCount: number;
  breaksByKind: Partial<Record<BreakKind, number>>;
  breaks: ChainBreak[];
  breaksOmitted: number;
  /** chain_seq of the last row of the chain read (sealed or pending). */
  lastSeq: string | null;
  /** The last row at or below the watermark (or the starting checkpoint when no row followed it). */
  lastSealed: { chainSeq: string; checksum: string | null } | null;
}

export async function verifyChain(input: VerifyChainInput, options: VerifyChainOptions = {}): Promise<VerifyReport> {
  return verifyCheckedChain({ ...input, rows: unchecked(input.rows) }, options);
}

export interface VerifyCheckedChainInput extends ChainVerifierOptions {
  /** The chain's rows in increasing chain_seq order, each with its content verdict when it was computed elsewhere. */
  rows: AsyncIterable<CheckedRow> | Iterable<CheckedRow>;
}

async function* unchecked(rows: AsyncIterable<StoredRow> | Iterable<StoredRow>): AsyncGenerator<CheckedRow> {
  for await (const row of rows) yield { row };
}

/**
 * verifyChain over rows whose content was checked elsewhere (worker threads):
 * the same state machine, so the same breaks in the same order.
 */
export async function verifyCheckedChain(input: VerifyCheckedChainInput, options: VerifyChainOptions = {}): Promise<VerifyReport> {
  const verifier = new ChainVerifier(input);
  const keep = options.keepBreaks ?? Number.POSITIVE_INFINITY;
  const every = Math.max(1, options.progressEvery ?? 1000);
  const breaks: ChainBreak[] = [];
  const breaksByKind: Partial<Record<BreakKind, number>> = {};
  let breakCount = 0;
  const record = async (found: ChainBreak[]): Promise<void> => {
    for (const chainBreak of found) {
      breakCount += 1;
      breaksByKind[chainBreak.kind] = (breaksByKind[chainBreak.kind] ?? 0) + 1;
      if (breaks.length < keep) breaks.push(chainBreak);
      await options.onBreak?.(chainBreak);
    }
  };
  const progress = (): VerifyProgress => ({ counts: { ...verifier.counts }, lastSeq: verifier.lastSeq, breakCount });
  for await (const item of input.rows) {
    await record(item.content === null ? verifier.check(item.row, null) : verifier.check(item.row, item.content));
    if (options.onProgress && verifier.counts.rows % every === 0) options.onProgress(progress());
  }
  await record(verifier.finish());
  options.onProgress?.(progress());
  return {
    orgId: verifier.orgId,
    ok: breakCount === 0,
    counts: { ...verifier.counts },
    breakCount,
    breaksByKind,
    breaks,
    breaksOmitted: breakCount - breaks.length,
    lastSeq: verifier.lastSeq,
    lastSealed: verifier.lastSealed,
  };
}
