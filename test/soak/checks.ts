// The end-of-run checks: every acknowledged and every committed row is stored,
// no rolled-back row is, nothing unknown appeared, committed rows = sealed rows,
// no chain is halted and every chain verifies with zero breaks.
import type pg from 'pg';
import { checkAllChains, type ChainCheck } from '../support/chain-check.ts';
import type { Ledger } from './ledger.ts';
import { runVerifier, type VerifierResult } from './verifier.ts';

export interface TableCounts {
  rows: number;
  /** Sum of audit_chain_state.sealed_count. */
  sealed: number;
  chains: number;
  halted: { chain: string; reason: string | null }[];
}

export interface RowPresence {
  missingAcknowledged: string[];
  missingCommitted: string[];
  presentRolledBack: string[];
  /** Rows no writer tried to write. */
  unknown: string[];
  inDoubtPresent: number;
  inDoubtAbsent: number;
}

export interface ChainVerification {
  /** The command-line verifier (streams the rows), when it exists in this tree. */
  verifier: VerifierResult | undefined;
  /** The test suite's independent walk; it holds every row in memory, so it is skipped above WALK_MAX_ROWS when the verifier ran. */
  walk: ChainCheck | undefined;
  breaks: number;
}

/** About 1 KB of memory per row in checkAllChains: keep the long soak's driver well under a gigabyte. */
export const WALK_MAX_ROWS = 300_000;

export async function tableCounts(pool: pg.Pool): Promise<TableCounts> {
  const counts = await pool.query<{ rows: string; sealed: string; chains: string }>(
    `select (select count(*) from audit_logs)::text as rows,
            (select coalesce(sum(sealed_count), 0) from audit_chain_state)::text as sealed,
            (select count(*) from audit_chain_state)::text as chains`,
  );
  const halted = await pool.query<{ chain: string; reason: string | null }>(
    `select coalesce(org_id::text, 'system') as chain, halted_reason as reason from audit_chain_state where halted_at is not null`,
  );
  const row = counts.rows[0]!;
  return { rows: Number(row.rows), sealed: Number(row.sealed), chains: Number(row.chains), halted: halted.rows };
}

export async function rowPresence(pool: pg.Pool, ledger: Ledger): Promise<RowPresence> {
  const stored = new Set((await pool.query<{ id: string }>('select id::text as id from audit_logs')).rows.map((row) => row.id));
  const presence: RowPresence = { missingAcknowledged: [], missingCommitted: [], presentRolledBack: [], unknown: [], inDoubtPresent: 0, inDoubtAbsent: 0 };
  for (const id of ledger.acknowledged) if (!stored.has(id)) presence.missingAcknowledged.push(id);
  for (const id of ledger.committed) if (!stored.has(id)) presence.missingCommitted.push(id);
  for (const id of ledger.rolledBack) if (stored.has(id)) presence.presentRolledBack.push(id);
  for (const id of ledger.inDoubt) {
    if (stored.has(id)) presence.inDoubtPresent += 1;
    else presence.inDoubtAbsent += 1;
  }
  for (const id of stored) {
    if (!ledger.acknowledged.has(id) && !ledger.committed.has(id) && !ledger.inDoubt.has(id)) presence.unknown.push(id);
  }
  return presence;
}

export async function verifyChains(pool: pg.Pool, databaseUrl: string, rows: number): Promise<ChainVerification> {
  const verifier = await runVerifier(databaseUrl);
  const walk = verifier === undefined || rows <= WALK_MAX_ROWS ? await checkAllChains(pool) : undefined;
  const breaks = Math.max(walk?.problems.length ?? 0, verifier?.breaks ?? 0);
  return { verifier, walk, breaks };
}
