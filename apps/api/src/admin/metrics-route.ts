// GET /metrics: the lag model for Prometheus. Behind the admin token: the series
// name organizations and their activity. Prometheus sends it with
// `authorization: { credentials_file: ... }` (docs/operations.md).
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import type { Pool } from '@audit-chain/db';
import { getMetricsSnapshot } from '@audit-chain/lag';
import { buildRegistry } from './prometheus.ts';

export interface MetricsRouteOptions {
  pool: Pool;
  auth: onRequestHookHandler;
  topN: number;
}

export function registerMetricsRoute(app: FastifyInstance, options: MetricsRouteOptions): void {
  app.get('/metrics', { onRequest: options.auth }, async (_request, reply) => {
    const registry = buildRegistry(await getMetricsSnapshot(options.pool, options.topN));
    const body = await registry.metrics();
    return reply.header('content-type', registry.contentType).header('cache-control', 'no-store').send(body);
  });
}
