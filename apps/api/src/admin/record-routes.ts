// GET /admin/v1/verifications (recent runs and the latest result per chain) and
// GET /admin/v1/checkpoints?org= (recorded signed checkpoints, newest first).
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import type { Pool } from '@audit-chain/db';
import { listCheckpoints, listVerifications } from '@audit-chain/lag';
import { QueryParser, type RawQuery } from './query.ts';

export interface RecordRoutesOptions {
  pool: Pool;
  auth: onRequestHookHandler;
}

export function registerRecordRoutes(app: FastifyInstance, options: RecordRoutesOptions): void {
  const { pool, auth } = options;

  app.get<{ Querystring: RawQuery }>('/admin/v1/verifications', { onRequest: auth }, async (request) => {
    const query = new QueryParser(request.query);
    const limit = query.limit(20, 100);
    query.done();
    return listVerifications(pool, { limit });
  });

  app.get<{ Querystring: RawQuery }>('/admin/v1/checkpoints', { onRequest: auth }, async (request) => {
    const query = new QueryParser(request.query);
    const orgId = query.chain('org');
    const limit = query.limit(50);
    const cursor = query.checkpointCursor();
    query.done();
    return listCheckpoints(pool, { orgId, limit, cursor });
  });
}
