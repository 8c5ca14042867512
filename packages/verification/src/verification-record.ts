// Records verification runs in audit_chain_verifications (one row per run) and
// the latest result per chain in audit_chain_verify_status, for the admin views.
// A role that may not write them (the read-only admin role, a standby) still
// verifies: start() then says why it cannot record, and the caller warns.
import type pg from 'pg';
import { sqlState, SqlState } from '@audit-chain/db';
import { chainId, type ChainSummary, type RunBreak, type VerifyRunReport } from './run-types.ts';

/** Breaks stored in a run's row: enough to act on, bounded so one broken chain cannot bloat the table. */
export const RECORDED_BREAKS = 100;

export type VerificationTrigger = 'cli' | 'schedule';

export interface RecordStart {
  trigger: VerificationTrigger;
  /** undefined: every chain. */
  orgId: string | null | undefined;
}

const READ_ONLY_TRANSACTION = '25006';

export function breakRecord(chainBreak: RunBreak): Record<string, unknown> {
  return {
    kind: chainBreak.kind,
    org_id: chainBreak.orgId ?? null,
    chain_seq: chainBreak.chainSeq,
    row_id: chainBreak.rowId,
    expected: chainBreak.expected,
    found: chainBreak.found,
    message: chainBreak.message,
  };
}

export class VerificationRecord {
  readonly id: string;
  readonly #pool: pg.Pool;

  private constructor(pool: pg.Pool, id: string) {
    this.#pool = pool;
    this.id = id;
  }

  /** Inserts the run as `running`; `{ skipped }` when this role may not record. */
  static async start(pool: pg.Pool, start: RecordStart): Promise<VerificationRecord | { skipped: string }> {
    try {
      const result = await pool.query<{ id: string }>(
        `insert into audit_chain_verifications (trigger, scope) values ($1, $2) returning id::text as id`,
        [start.trigger, start.orgId === undefined ? null : chainId(start.orgId)],
      );
      return new VerificationRecord(pool, result.rows[0]!.id);
    } catch (error) {
      const code = sqlState(error);
      if (code === SqlState.insufficientPrivilege || code === READ_ONLY_TRANSACTION) {
        return { skipped: `not recording this run in audit_chain_verifications: ${(error as Error).message}` };
      }
      throw error;
    }
  }

  async chainDone(summary: ChainSummary): Promise<void> {
    await this.#pool.query(
      `insert into audit_chain_verify_status (org_id, verification_id, verified_at, rows_checked, breaks_found, first_break)
       values ($1::uuid, $2::bigint, now(), $3::bigint, $4, $5::jsonb)
       on conflict on constraint audit_chain_verify_status_org_unique do update
          set verification_id = excluded.verification_id, verified_at = excluded.verified_at,
              rows_checked = excluded.rows_checked, breaks_found = excluded.breaks_found, first_break = excluded.first_break`,
      [summary.orgId, this.id, summary.counts.sealed, summary.breakCount, summary.firstBreak ? JSON.stringify(breakRecord(summary.firstBreak)) : null],
    );
  }

  async finish(report: VerifyRunReport): Promise<void> {
    await this.#pool.query(
      `update audit_chain_verifications
          set finished_at = now(), status = $2, chains_checked = $3, rows_checked = $4::bigint, breaks_found = $5, breaks = $6::jsonb
        where id = $1::bigint`,
      [
        this.id,
        report.ok ? 'clean' : 'breaks',
        report.totals.chains,
        report.totals.sealed,
        report.breakCount,
        JSON.stringify(report.breaks.slice(0, RECORDED_BREAKS).map(breakRecord)),
      ],
    );
  }

  async fail(error: unknown): Promise<void> {
    await this.#pool.query(`update audit_chain_verifications set finished_at = now(), status = 'failed', error = $2 where id = $1::bigint`, [
      this.id,
      error instanceof Error ? error.message : String(error),
    ]);
  }
}
