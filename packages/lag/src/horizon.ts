// The horizon figures: where the safe horizon stands against the sequence head,
// for how long rows have waited behind it, and why.
import { readSequenceHead } from '@audit-chain/sealing';
import { ABOVE_DISCOVERED_PLANNER, readFirstRowAbove } from './chain-queries.ts';
import { withPlannerSettings, type Queryable } from './snapshot.ts';
import { readOpenWriters, readProgress } from './system-queries.ts';
import { round3 } from './sql.ts';
import type { HorizonHolder, HorizonLag, HorizonState } from './types.ts';

export interface HorizonReading {
  generatedAt: string;
  horizon: HorizonLag;
}

/**
 * The age of the oldest committed row in the first `window` values above the
 * horizon (undefined: none), when the caller reads that range anyway (the held
 * rows above the discovered position, which is usually the horizon); null to
 * have readHorizon read it.
 */
export type FirstAboveAge = (horizonSeq: bigint, discoveredSeq: bigint, head: bigint) => Promise<number | undefined | null>;

export async function readHorizon(db: Queryable, staleAfterSeconds: number, window: bigint, firstAboveAge?: FirstAboveAge): Promise<HorizonReading> {
  const progress = (
    await db.query<{
      generated_at: string;
      horizon_seq: string;
      horizon_at: string | null;
      horizon_age: number | null;
      discovered_seq: string;
      discovered_at: string | null;
      workers_alive: number;
    }>(readProgress(staleAfterSeconds))
  ).rows[0];
  if (!progress) throw new Error('audit_chain_progress has no row: run `audit-chain migrate`');
  // Read after the progress row: the sequence is not transactional, so read in
  // this order the head is never below a horizon proven from an earlier head.
  const head = await readSequenceHead(db);
  const horizonSeq = BigInt(progress.horizon_seq);
  const behind = horizonSeq < head;
  const holders = behind ? await listHolders(db) : [];
  let firstAbove: number | undefined;
  if (behind) {
    const known = firstAboveAge ? await firstAboveAge(horizonSeq, BigInt(progress.discovered_seq), head) : null;
    firstAbove = known === null ? await readFirstRowAboveHorizon(db, horizonSeq, window) : known;
  }
  return {
    generatedAt: progress.generated_at,
    horizon: {
      head_seq: head.toString(),
      horizon_seq: progress.horizon_seq,
      horizon_at: progress.horizon_at,
      discovered_seq: progress.discovered_seq,
      discovered_at: progress.discovered_at,
      lag_seq: (behind ? head - horizonSeq : 0n).toString(),
      held_seconds: behind ? heldSeconds(progress.horizon_age, holders, firstAbove) : 0,
      state: horizonState(behind, holders.length, progress.workers_alive),
      holders,
      workers_alive: progress.workers_alive,
    },
  };
}

/**
 * Rows wait behind the horizon from the moment the first value above it was
 * handed out. That moment is not recorded anywhere, but it is no earlier than
 * the start of the transaction that took it (an open writer, listed) or that
 * wrote the first committed row above the horizon (its recorded_at, the
 * transaction's start), and no earlier than the horizon's last move. So the
 * wait is the younger of the horizon's age and the oldest of those starts:
 * idle time before the first waiting row is never counted, and when nothing
 * waits (only rolled-back values above the horizon) it is 0.
 */
export function heldSeconds(horizonAge: number | null, holders: readonly HorizonHolder[], firstAboveAge: number | undefined): number {
  const starts = [...holders.map((holder) => holder.xact_age_seconds ?? 0), ...(firstAboveAge === undefined ? [] : [firstAboveAge])];
  if (starts.length === 0) return 0;
  const waiting = Math.max(...starts);
  return round3(Math.max(Math.min(horizonAge ?? waiting, waiting), 0));
}

async function readFirstRowAboveHorizon(db: Queryable, horizonSeq: bigint, window: bigint): Promise<number | undefined> {
  const query = readFirstRowAbove(horizonSeq, window);
  const row = await withPlannerSettings(db, ABOVE_DISCOVERED_PLANNER, async () => (await db.query<{ age: number }>(query)).rows[0]);
  return row?.age;
}

export function horizonState(behind: boolean, holders: number, workersAlive: number): HorizonState {
  if (!behind) return 'caught_up';
  if (holders > 0) return 'open_writers';
  if (workersAlive === 0) return 'no_worker';
  return 'advancing';
}

/** An open writer as the holder queries return it. */
export interface HolderRow {
  pid: number | null;
  application_name: string | null;
  user_name: string | null;
  state: string | null;
  xact_start: string | null;
  xact_age: number | null;
  state_change: string | null;
  state_age: number | null;
  wait_event: string | null;
  query: string | null;
}

async function listHolders(db: Queryable): Promise<HorizonHolder[]> {
  return (await db.query<HolderRow>(readOpenWriters())).rows.map(toHolder);
}

export function toHolder(row: HolderRow): HorizonHolder {
  return {
    pid: row.pid,
    application_name: row.application_name,
    user_name: row.user_name,
    state: row.state,
    xact_start: row.xact_start,
    xact_age_seconds: row.xact_age === null ? null : round3(row.xact_age),
    state_change: row.state_change,
    state_age_seconds: row.state_age === null ? null : round3(row.state_age),
    wait_event: row.wait_event,
    query: row.query,
  };
}
