// What a verification run reports, shared by the command line, the scheduled
// job and what they record.
import type { BreakKind, ChainBreak, VerifyCounts } from '@audit-chain/chain';

/** A break and the chain it is about (undefined: a checkpoint too garbled to name one). */
export interface RunBreak extends ChainBreak {
  orgId: string | null | undefined;
  /** Where a checkpoint break was read (file and line, or table row). */
  source?: string;
  /** A checkpoint break about an attached table's chain: what the checkpoint names, as far as it can be read. */
  tableClaim?: { schema: string | null; table: string | null; chainKey: string | null | undefined };
}

export interface ChainSummary {
  orgId: string | null;
  counts: VerifyCounts;
  breakCount: number;
  breaksByKind: Partial<Record<BreakKind, number>>;
  /** The first break of this chain (checkpoint breaks first), for the per-chain status. */
  firstBreak: RunBreak | null;
  /** chain_seq of the trusted checkpoint verification started after (--from-checkpoint). */
  startedAfter: string | null;
  trustedCheckpoints: number;
  watermarkSeq: string;
  lastSeq: string | null;
}

export interface VerifyRunReport {
  ok: boolean;
  /** undefined: every chain. */
  orgId: string | null | undefined;
  fromCheckpoint: boolean;
  chains: ChainSummary[];
  totals: VerifyCounts & { chains: number };
  breakCount: number;
  breaksByKind: Partial<Record<BreakKind, number>>;
  /** The first `keepBreaks` breaks; breaksOmitted counts the rest. */
  breaks: RunBreak[];
  breaksOmitted: number;
  checkpoints: {
    checked: boolean;
    keys: number;
    sources: { source: string; read: number; trusted: number; rejected: number }[];
    trusted: number;
  };
  warnings: string[];
}

/** 'system' for the NULL org, else the org id: how a chain is named in output and in scope columns. */
export function chainId(orgId: string | null): string {
  return orgId ?? 'system';
}
