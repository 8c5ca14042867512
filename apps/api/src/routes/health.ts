// Probes. /healthz: the process serves requests (no database, so a database
// outage does not get the API restarted). /readyz: the database answers within
// a short timeout, so a load balancer stops sending writes that would fail.
import type { FastifyInstance } from 'fastify';
import type { Pool } from '@audit-chain/db';
import { ApiError, sendError } from '../errors.ts';

export interface HealthOptions {
  pool: Pool;
  readyTimeoutMs: number;
}

export function registerHealth(app: FastifyInstance, options: HealthOptions): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    try {
      await withTimeout(options.pool.query('select 1'), options.readyTimeoutMs);
      return { status: 'ready' };
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check failed');
      sendError(reply, new ApiError(503, 'not_ready', 'the database is not reachable'));
      return reply;
    }
  });
}

/**
 * Bounds the wait without cancelling the query: a stuck connection attempt is
 * left to the pool, and the probe answers in time.
 */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
