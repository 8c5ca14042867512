// Starting while the database is not reachable yet (a restart, a failover, a
// container that came up first) is not an error a worker should die of: it waits
// with backoff, says so once per attempt, and gives up only on an error that
// retrying cannot cure, or when it is told to stop.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { classifyDatabaseError } from '@audit-chain/db';

export interface RetryOptions {
  log: Logger;
  /** What is being attempted, for the log line. */
  what: string;
  signal?: AbortSignal;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/** Raised when `signal` stops the retries before `attempt` succeeded. */
export class StoppedBeforeStartError extends Error {
  constructor(what: string) {
    super(`stopped before ${what} succeeded`);
    this.name = 'StoppedBeforeStartError';
  }
}

export async function retryWhileUnreachable<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const { log, what, signal } = options;
  const maxDelayMs = options.maxDelayMs ?? 10_000;
  let delayMs = options.initialDelayMs ?? 500;
  for (let attempts = 1; ; attempts += 1) {
    if (signal?.aborted) throw new StoppedBeforeStartError(what);
    try {
      return await attempt();
    } catch (error) {
      if (classifyDatabaseError(error) !== 'transient') throw error;
      if (signal?.aborted) throw new StoppedBeforeStartError(what);
      log.warn({ attempts, retryInMs: delayMs, reason: error instanceof Error ? error.message : String(error) }, `${what}: the database is not reachable; retrying`);
      try {
        await sleep(delayMs, undefined, { signal });
      } catch {
        throw new StoppedBeforeStartError(what);
      }
      delayMs = Math.min(delayMs * 2, maxDelayMs);
    }
  }
}
