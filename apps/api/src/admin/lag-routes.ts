// GET /admin/v1/lag (the overview, worst chains first, paginated),
// GET /admin/v1/lag/:orgId (one chain of audit_logs),
// GET /admin/v1/lag/tables/:table/chains/:chain (one chain of any chained
// table: the chain id URL-encoded), GET /admin/v1/status (one screen),
// GET /admin/v1/history (the sampled hour behind the admin page's chart).
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import type { Pool } from '@audit-chain/db';
import { getChainLag, getLagOverview, getLagStatus, getTableChainLag } from '@audit-chain/lag';
import { ApiError, validationError, type FieldProblem } from '../errors.ts';
import type { LagHistory } from './lag-history.ts';
import { parseChain, QueryParser, type RawQuery } from './query.ts';

export const DEFAULT_OVERVIEW_LIMIT = 50;

export interface LagRoutesOptions {
  pool: Pool;
  auth: onRequestHookHandler;
  history: LagHistory | undefined;
}

export function registerLagRoutes(app: FastifyInstance, options: LagRoutesOptions): void {
  const { pool, auth, history } = options;
  // Throughput needs an earlier reading: the newest sample about a minute older than this one.
  const previous = (at: string) => history?.previousFor(at);

  app.get<{ Querystring: RawQuery }>('/admin/v1/lag', { onRequest: auth }, async (request) => {
    const query = new QueryParser(request.query);
    const limit = query.limit(DEFAULT_OVERVIEW_LIMIT);
    const cursor = query.overviewCursor();
    query.done();
    return getLagOverview(pool, { limit, cursor }, { previous });
  });

  app.get<{ Params: { orgId: string }; Querystring: RawQuery }>('/admin/v1/lag/:orgId', { onRequest: auth }, async (request) => {
    const problems: FieldProblem[] = [];
    const orgId = parseChain(request.params.orgId, 'org_id', problems);
    if (problems.length > 0) throw validationError(problems, 'the request is invalid');
    new QueryParser(request.query).done();
    const detail = await getChainLag(pool, orgId);
    if (!detail) throw new ApiError(404, 'chain_not_found', `no audit rows for chain ${request.params.orgId}`);
    return detail;
  });

  app.get<{ Params: { table: string; chain: string }; Querystring: RawQuery }>('/admin/v1/lag/tables/:table/chains/:chain', { onRequest: auth }, async (request) => {
    new QueryParser(request.query).done();
    const { table, chain } = request.params;
    const result = await getTableChainLag(pool, table, chain);
    if ('found' in result) return result.found;
    throw notFound(result.missing, table, chain);
  });

  app.get<{ Querystring: RawQuery }>('/admin/v1/status', { onRequest: auth }, async (request) => {
    new QueryParser(request.query).done();
    return getLagStatus(pool, { previous });
  });

  app.get<{ Querystring: RawQuery }>('/admin/v1/history', { onRequest: auth }, async (request) => {
    new QueryParser(request.query).done();
    return { interval_seconds: history ? history.intervalMs / 1000 : null, samples: history?.samples() ?? [] };
  });
}

/** The 404 of a table-and-chain request: which of the two is unknown. */
export function notFound(missing: 'table' | 'chain', table: string, chain: string): ApiError {
  return missing === 'table'
    ? new ApiError(404, 'table_not_found', `no chained table ${JSON.stringify(table)} (audit_chain.audit_logs, or a table attached with \`audit-chain attach\`)`)
    : new ApiError(404, 'chain_not_found', `no chain ${JSON.stringify(chain)} in ${table}`);
}
