// The sealing worker: a horizon-and-dispatch loop, and per-chain seal jobs run
// through pg-boss. Several replicas may run: pg-boss coalesces the jobs (at most
// one queued per chain), and the database makes sealing exclusive (FOR UPDATE
// SKIP LOCKED on the chain state, compare-and-set on the watermark), so a job
// retried elsewhere while its first attempt still runs cannot fork a chain.
// The queue policy is `short`, not `stately`: stately allows one active job per
// chain, so a worker killed mid-job would stall its chains until pg-boss expires
// the job; with `short` the next dispatched job seals the chain at once, and a
// job that finds the chain locked by a live sealer simply completes.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { PgBoss, type Job, type JobResult } from 'pg-boss';
import type { Logger } from 'pino';
import type { Config } from '@audit-chain/config';
import { createPool } from '@audit-chain/db';
import { ChainInvariantError, HorizonTracker, advanceHorizonAndDiscover, chainKey, chainsToSeal, sealAttachedTables, sealChain } from '@audit-chain/sealing';
import { startCheckpointLoop, type CheckpointLoop } from './checkpoint-loop.ts';
import { mapConcurrently } from './map-concurrently.ts';
import { PollLoop } from './poll-loop.ts';
import { retryWhileUnreachable } from './retry-unreachable.ts';
import { WorkerStats, writeHeartbeat, type WorkerIdentity } from './stats.ts';
import { startVerifySchedule, type VerifySchedule } from './verify-job.ts';

export { StoppedBeforeStartError } from './retry-unreachable.ts';

export const SEAL_QUEUE = 'audit-chain-seal';

/** pg-boss's tables live in a schema of ours, not its default `pgboss`, which a product may use too. */
export const BOSS_SCHEMA = 'audit_chain_boss';

export interface SealJobData {
  orgId: string | null;
}

export interface WorkerOptions {
  databaseUrl: string;
  /** Without `checkpoints` the worker signs no checkpoints; without `verification` it schedules no verification. */
  config: Pick<Config, 'sealing'> & Partial<Pick<Config, 'checkpoints' | 'verification'>>;
  logger: Logger;
  /** Seconds a seal job may run before pg-boss retries it elsewhere. */
  jobExpireSeconds?: number;
  heartbeatMs?: number;
  /** Passed to pg-boss (tests shorten its supervision interval to see expiry quickly). */
  bossOptions?: { superviseIntervalSeconds?: number; maintenanceIntervalSeconds?: number; monitorIntervalSeconds?: number };
  /**
   * Stops a start that is still waiting for the database (it then rejects with
   * StoppedBeforeStartError). While the database is unreachable the start retries
   * with backoff instead of failing.
   */
  signal?: AbortSignal;
  /** First and longest wait between start attempts while the database is unreachable. */
  startRetry?: { initialDelayMs?: number; maxDelayMs?: number };
}

export interface RunningWorker {
  identity: WorkerIdentity;
  stats: WorkerStats;
  stop(): Promise<void>;
}

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const { databaseUrl, config, logger } = options;
  const identity: WorkerIdentity = { workerId: randomUUID(), hostname: hostname(), pid: process.pid };
  const log = logger.child({ workerId: identity.workerId });
  const stats = new WorkerStats();
  const pool = createPool(databaseUrl, {
    applicationName: `audit-chain worker ${identity.workerId.slice(0, 8)}`,
    // Each seal job holds one connection for its transaction and, while it writes, one for reading the next batch ahead.
    max: config.sealing.concurrency * 2 + 3,
  });
  const jobExpireSeconds = options.jobExpireSeconds ?? 120;
  const boss = await retryWhileUnreachable(
    async () => {
      const candidate = new PgBoss({ connectionString: databaseUrl, schema: BOSS_SCHEMA, application_name: 'audit-chain worker pg-boss', max: 4, useListenNotify: true, ...options.bossOptions });
      candidate.on('error', (error: Error) => {
        stats.recordError(error);
        log.error({ err: error }, 'pg-boss error');
      });
      try {
        await candidate.start();
        await candidate.createQueue(SEAL_QUEUE, {
          policy: 'short',
          notify: true,
          expireInSeconds: jobExpireSeconds,
          retryLimit: 50,
          retryDelay: 1,
          retryBackoff: true,
          retryDelayMax: 60,
          deleteAfterSeconds: 3600,
        });
        return candidate;
      } catch (error) {
        await candidate.stop({ graceful: false }).catch(() => {});
        throw error;
      }
    },
    { log, what: 'starting the sealing worker', signal: options.signal, ...options.startRetry },
  ).catch(async (error: unknown) => {
    await pool.end();
    throw error;
  });

  let stopping = false;
  const tracker = new HorizonTracker();
  const driftReported = new Set<string>();

  const dispatch = new PollLoop({
    intervalMs: config.sealing.pollMs,
    maxBackoffMs: 30_000,
    step: async () => {
      const step = await advanceHorizonAndDiscover(pool, tracker);
      stats.horizonSeq = step.horizon;
      const chains = await chainsToSeal(pool);
      if (chains.length > 0 && !stopping) {
        await boss.insert(
          SEAL_QUEUE,
          chains.map((chain) => ({
            data: { orgId: chain.orgId } satisfies SealJobData,
            singletonKey: chainKey(chain.orgId),
            // Per job too: createQueue leaves an existing queue's settings as they were.
            expireInSeconds: jobExpireSeconds,
          })),
        );
      }
      // Attached tables are sealed in this loop (waitMs 0: a table with an open
      // writer is tried again next round); each chain is exclusive in the database.
      if (!stopping) {
        for (const table of await sealAttachedTables(pool, { batchSize: config.sealing.batchSize, waitMs: 0 })) {
          for (const chain of table.chains) if (chain.sealed > 0) stats.recordBatch(chain.sealed, []);
          if ((table.status === 'drifted' || table.status === 'unsupported') && !driftReported.has(table.message ?? '')) {
            driftReported.add(table.message ?? '');
            log.error({ table: table.table }, table.message ?? 'attached table drifted');
          }
        }
      }
    },
    onError: (error, failures) => {
      stats.recordError(error);
      log.error({ err: error, consecutiveFailures: failures }, 'horizon/dispatch step failed; backing off');
    },
  });

  const sealJob = async (job: Job<SealJobData>): Promise<JobResult> => {
    const orgId = job.data.orgId;
    try {
      const result = await sealChain(pool, orgId, {
        batchSize: config.sealing.batchSize,
        maxBatches: 20,
        shouldStop: () => stopping,
        onBatch: (batch) => stats.recordBatch(batch.sealed, batch.latenciesMs),
      });
      if (result.overwritten > 0) {
        log.warn({ chain: chainKey(orgId), rows: result.overwritten }, 'overwrote chain values slipped into pending rows');
      }
      if (result.sealed > 0) log.debug({ chain: chainKey(orgId), sealed: result.sealed, watermark: result.watermark.toString() }, 'sealed');
      return { id: job.id, status: 'completed' };
    } catch (error) {
      stats.recordError(error);
      if (error instanceof ChainInvariantError) {
        // Halted by sealChain; retrying cannot help. Loud, and the job completes.
        log.error({ err: error, chain: chainKey(orgId) }, 'chain invariant broken: sealing of this chain is halted');
        return { id: job.id, status: 'completed', output: { halted: error.message } };
      }
      log.warn({ err: error, chain: chainKey(orgId) }, 'seal job failed; pg-boss retries it with backoff');
      return { id: job.id, status: 'failed', output: { message: error instanceof Error ? error.message : String(error) } };
    }
  };

  // `concurrency` lanes (pg-boss local workers), each fetching its jobs in small
  // batches and sealing them one after another. One job per fetch would wait out a
  // polling interval after every job (pg-boss bursts only on full batches, and with
  // NOTIFY on it polls every 30 s as a mere backstop), which stalls a backlog spread
  // over many chains. One shared fetch for all lanes would wait for its slowest job
  // (a long chain's 20 batches) before any lane fetched again, leaving the others idle.
  await boss.work<SealJobData>(
    SEAL_QUEUE,
    {
      batchSize: 4,
      localConcurrency: config.sealing.concurrency,
      burstWhenBatchFull: true,
      pollingIntervalSeconds: 0.5,
      notifyPollingIntervalSeconds: 0.5,
      perJobResults: true,
    },
    (jobs) => mapConcurrently(jobs, 1, sealJob),
  );

  const heartbeat = new PollLoop({
    intervalMs: options.heartbeatMs ?? 5000,
    maxBackoffMs: 60_000,
    step: () => writeHeartbeat(pool, identity, stats),
    onError: (error) => log.warn({ err: error }, 'heartbeat failed'),
  });

  let checkpoints: CheckpointLoop | null = null;
  let verification: VerifySchedule | null = null;
  try {
    if (config.checkpoints) checkpoints = startCheckpointLoop({ databaseUrl, config: { checkpoints: config.checkpoints }, logger: log, onError: (error) => stats.recordError(error) });
    if (config.checkpoints && config.verification) {
      verification = await startVerifySchedule(boss, { databaseUrl, config: { checkpoints: config.checkpoints, verification: config.verification }, logger: log, onError: (error) => stats.recordError(error) });
    }
  } catch (error) {
    // A signing key or schedule that cannot be used: fail to start, leaving nothing running.
    await checkpoints?.stop();
    await boss.stop({ graceful: false }).catch(() => {});
    await pool.end();
    throw error;
  }

  dispatch.start();
  heartbeat.start();
  log.info({ pollMs: config.sealing.pollMs, batchSize: config.sealing.batchSize, concurrency: config.sealing.concurrency }, 'sealing worker started');

  return {
    identity,
    stats,
    async stop() {
      if (stopping) return;
      stopping = true;
      log.info('sealing worker stopping');
      await dispatch.stop();
      await heartbeat.stop();
      await checkpoints?.stop();
      verification?.abort();
      // Graceful: a job in flight finishes its current batch (shouldStop) and pg-boss waits for it.
      await boss.stop({ graceful: true, timeout: 30_000 }).catch((error: unknown) => log.warn({ err: error }, 'pg-boss stop failed'));
      await writeHeartbeat(pool, identity, stats, true).catch(() => {});
      await verification?.close();
      await pool.end();
      log.info({ sealedRows: stats.sealedRows }, 'sealing worker stopped');
    },
  };
}
