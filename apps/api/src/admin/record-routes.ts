// GET /admin/v1/verifications (recent runs and the latest result per chain) and
// GET /admin/v1/checkpoints?org= (audit_logs' recorded signed checkpoints,
// newest first) and ?table=&chain= (those of one chained table, or one chain).
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import type { Pool } from '@audit-chain/db';
import { listCheckpoints, listTableCheckpoints, listVerifications } from '@audit-chain/lag';
import { notFound } from './lag-routes.ts';
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
    const table = query.text('table');
    const chain = query.text('chain', true);
    const limit = query.limit(50);
    const cursor = query.checkpointCursor();
    if (table !== undefined && orgId !== undefined) query.problems.push({ field: 'org', problem: 'cannot be given with table (use chain)' });
    if (chain !== undefined && table === undefined) query.problems.push({ field: 'chain', problem: 'needs table' });
    query.done();
    if (table === undefined) return listCheckpoints(pool, { orgId, limit, cursor });
    const result = await listTableCheckpoints(pool, { table, chain, limit, cursor });
    if ('found' in result) return result.found;
    throw notFound(result.missing, table, chain ?? '');
  });
}
