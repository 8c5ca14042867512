// The admin surface of the API: lag views, verification results, checkpoints,
// Prometheus metrics, the admin page and its OpenAPI description. One call from
// server.ts registers all of it.
import type { FastifyInstance } from 'fastify';
import type { Config } from '@audit-chain/config';
import type { Pool } from '@audit-chain/db';
import { requireAdminToken } from './admin-auth.ts';
import { LagHistory } from './lag-history.ts';
import { registerLagRoutes } from './lag-routes.ts';
import { registerMetricsRoute } from './metrics-route.ts';
import { registerPageRoutes } from './page-routes.ts';
import { registerRecordRoutes } from './record-routes.ts';

export interface AdminOptions {
  pool: Pool;
  api: Config['api'];
  /**
   * How often the API samples the lag for the admin page's hour of history; 0
   * turns sampling off. Sampling runs only when an admin token is configured:
   * without one nobody can read the samples.
   */
  sampleIntervalMs?: number;
}

export const DEFAULT_SAMPLE_INTERVAL_MS = 10_000;

export function registerAdmin(app: FastifyInstance, options: AdminOptions): void {
  const { pool, api } = options;
  const auth = requireAdminToken(api.adminToken, api.writeToken);
  if (api.adminToken === undefined) {
    app.log.warn('AUDIT_CHAIN_ADMIN_TOKEN is not set: the admin API and /metrics refuse every request');
  } else if (api.adminToken === api.writeToken) {
    app.log.error('AUDIT_CHAIN_ADMIN_TOKEN equals AUDIT_CHAIN_API_TOKEN: the admin API and /metrics refuse every request');
  }

  const interval = options.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS;
  const history =
    api.adminToken !== undefined && interval > 0 ? new LagHistory({ pool, intervalMs: interval, log: app.log }) : undefined;
  if (history) {
    app.addHook('onReady', async () => history.start());
    app.addHook('onClose', async () => history.stop());
  }

  registerLagRoutes(app, { pool, auth, history });
  registerRecordRoutes(app, { pool, auth });
  registerMetricsRoute(app, { pool, auth, topN: api.metricsTopN });
  registerPageRoutes(app);
}
