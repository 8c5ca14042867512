// Scheduled verification: a pg-boss cron schedule (AUDIT_CHAIN_VERIFY_CRON,
// UTC, daily by default) queues a job that verifies every chain, the system
// chain included, and records the run and each chain's result for the admin
// views; then every chain of every attached table (logged; the recorded run is
// audit_logs' chains, whose records are per organization). The queue is `singleton`: however many replicas run, one verification
// at a time. The keyring is read at every run, so rotating keys needs no restart.
import type { PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import type { Config } from '@audit-chain/config';
import { createPool } from '@audit-chain/db';
import { breakRecord, checkpointSourcesFromConfig, keyringFromConfig, runVerification, verifyAttachedTables, VerificationRecord } from '@audit-chain/verification';

export const VERIFY_QUEUE = 'audit-chain-verify';

export interface VerifyScheduleOptions {
  databaseUrl: string;
  config: Pick<Config, 'checkpoints' | 'verification'>;
  logger: Logger;
  /** Seconds a verification may run before pg-boss gives it to another worker. */
  expireInSeconds?: number;
  onError?: (error: unknown) => void;
}

export interface VerifySchedule {
  /** Makes a run in flight stop at its next page of rows (before pg-boss is stopped). */
  abort(): void;
  /** Closes the pool (after pg-boss has stopped). */
  close(): Promise<void>;
}

export async function startVerifySchedule(boss: PgBoss, options: VerifyScheduleOptions): Promise<VerifySchedule> {
  const { config, logger } = options;
  const pool = createPool(options.databaseUrl, { applicationName: 'audit-chain worker verify', max: 3 });
  const stopping = new AbortController();
  try {
    await boss.createQueue(VERIFY_QUEUE, {
      policy: 'singleton',
      expireInSeconds: options.expireInSeconds ?? 4 * 3600,
      retryLimit: 2,
      retryDelay: 300,
      deleteAfterSeconds: 7 * 86_400,
    });
    if (config.verification.cron) {
      await boss.schedule(VERIFY_QUEUE, config.verification.cron, {}, { tz: 'UTC' });
    } else {
      await boss.unschedule(VERIFY_QUEUE);
    }
  } catch (error) {
    await pool.end();
    throw new Error(`AUDIT_CHAIN_VERIFY_CRON ${JSON.stringify(config.verification.cron ?? 'off')}: cannot schedule the verification: ${(error as Error).message}`, { cause: error });
  }

  await boss.work(VERIFY_QUEUE, { localConcurrency: 1, batchSize: 1, pollingIntervalSeconds: 5 }, async ([job]) => {
    if (!job) return;
    const signal = AbortSignal.any([job.signal, stopping.signal]);
    let keyring;
    try {
      keyring = keyringFromConfig(config);
    } catch (error) {
      // Recorded as a failed run, so the admin views show why nothing was verified.
      const record = await VerificationRecord.start(pool, { trigger: 'schedule', orgId: undefined });
      if (record instanceof VerificationRecord) await record.fail(error);
      options.onError?.(error);
      logger.error({ err: error }, 'scheduled verification cannot run: the keyring is unreadable');
      return;
    }
    const started = Date.now();
    try {
      const report = await runVerification(pool, {
        keyring,
        checkpointSources: checkpointSourcesFromConfig(config),
        record: { trigger: 'schedule', orgId: undefined },
        signal,
      });
      for (const warning of report.warnings) logger.warn(`scheduled verification: ${warning}`);
      const summary = { verificationId: report.verificationId, chains: report.totals.chains, rows: report.totals.rows, sealed: report.totals.sealed, ms: Date.now() - started };
      if (report.ok) logger.info(summary, 'scheduled verification: no breaks');
      else logger.error({ ...summary, breaks: report.breakCount, byKind: report.breaksByKind, first: report.breaks.slice(0, 5).map(breakRecord) }, 'scheduled verification FOUND BREAKS');
      if (signal.aborted) return;
      // Attached tables' chains, against their signed checkpoints (docs/chain-format.md section 12).
      const attachedStarted = Date.now();
      const attached = await verifyAttachedTables(pool, { keyring, checkpointSources: checkpointSourcesFromConfig(config) });
      for (const warning of attached.warnings) logger.warn(`scheduled verification of attached tables: ${warning}`);
      const attachedSummary = { chains: attached.chains.length, rows: attached.chains.reduce((sum, chain) => sum + chain.rows, 0), ms: Date.now() - attachedStarted };
      if (attached.ok) {
        if (attached.chains.length > 0) logger.info(attachedSummary, 'scheduled verification of attached tables: no breaks');
      } else {
        logger.error({ ...attachedSummary, breaks: attached.breaks.length, first: attached.breaks.slice(0, 5) }, 'scheduled verification of attached tables FOUND BREAKS');
      }
    } catch (error) {
      options.onError?.(error);
      logger.error({ err: error }, 'scheduled verification failed');
      throw error;
    }
  });
  logger.info({ cron: config.verification.cron ?? 'off', keyring: config.verification.keyringFile ?? null }, 'verification scheduled');
  return {
    abort: () => stopping.abort(new Error('the worker is stopping')),
    close: () => pool.end(),
  };
}
