// GET /metrics: the lag model for Prometheus. Behind the admin token: the series
// name organizations and their activity. Prometheus sends it with
// `authorization: { credentials_file: ... }` (docs/operations.md).
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import type { Pool } from '@audit-chain/db';
import { isDistributed } from '@audit-chain/citus';
import { getMetricsSnapshot } from '@audit-chain/lag';
import { buildRegistry } from './prometheus.ts';

export interface MetricsRouteOptions {
  pool: Pool;
  auth: onRequestHookHandler;
  topN: number;
}

export function registerMetricsRoute(app: FastifyInstance, options: MetricsRouteOptions): void {
  app.get('/metrics', { onRequest: options.auth }, async (_request, reply) => {
    // On Citus the per-organization series cannot be computed (packages/citus: the per-chain lag): totals only.
    const topN = options.topN > 0 && (await isDistributed(options.pool)) ? 0 : options.topN;
    const registry = buildRegistry(await getMetricsSnapshot(options.pool, topN));
    const body = await registry.metrics();
    return reply.header('content-type', registry.contentType).header('cache-control', 'no-store').send(body);
  });
}
