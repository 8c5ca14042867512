// GET /v1/orgs/:orgId/audit-events?limit=&cursor=: one chain's events, newest
// first. `:orgId` is an organization's uuid, or `system` for the chain of
// events that belong to no organization (org_id NULL).
import type { FastifyInstance } from 'fastify';
import type { Pool } from '@audit-chain/db';
import { requireBearerToken } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { listAuditEvents, type ListQuery } from '../db/list-audit-events.ts';
import { validationError, type FieldProblem } from '../errors.ts';
import { isUuid } from '../formats.ts';
import { stringifyJson } from '../json-body.ts';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;

export interface ListEventsOptions {
  pool: Pool;
  readToken: string | undefined;
}

type Query = Record<string, string | string[] | undefined>;

export function registerListEvents(app: FastifyInstance, options: ListEventsOptions): void {
  app.get<{ Params: { orgId: string }; Querystring: Query }>(
    '/v1/orgs/:orgId/audit-events',
    { onRequest: requireBearerToken(options.readToken) },
    async (request, reply) => {
      const query = parseListQuery(request.params.orgId, request.query);
      const page = await listAuditEvents(options.pool, query);
      // Serialized by lossless-json, not JSON.stringify: numbers in details go out as stored.
      return reply
        .type('application/json; charset=utf-8')
        .send(stringifyJson({ events: page.events, next_cursor: page.lastSeq === undefined ? null : encodeCursor(page.lastSeq) }));
    },
  );
}

/**
 * Parsed by hand rather than by the JSON schema: the server's ajv does not
 * coerce types (a body's "5" must stay a string error), and query values are
 * always strings.
 */
export function parseListQuery(orgIdParam: string, raw: Query): ListQuery {
  const problems: FieldProblem[] = [];
  let orgId: string | null = null;
  if (orgIdParam !== 'system') {
    if (isUuid(orgIdParam)) orgId = orgIdParam.toLowerCase();
    else problems.push({ field: 'org_id', problem: 'must be a uuid, or "system" for the system chain' });
  }

  let limit = DEFAULT_LIMIT;
  if (raw.limit !== undefined) {
    const value = typeof raw.limit === 'string' && /^[0-9]{1,3}$/.test(raw.limit) ? Number(raw.limit) : NaN;
    if (value >= 1 && value <= MAX_LIMIT) limit = value;
    else problems.push({ field: 'limit', problem: `must be one integer from 1 to ${MAX_LIMIT}` });
  }

  let beforeSeq: string | undefined;
  if (raw.cursor !== undefined) {
    beforeSeq = typeof raw.cursor === 'string' ? decodeCursor(raw.cursor) : undefined;
    if (beforeSeq === undefined) problems.push({ field: 'cursor', problem: 'must be a next_cursor value returned by this endpoint' });
  }

  for (const name of Object.keys(raw)) {
    if (name !== 'limit' && name !== 'cursor') problems.push({ field: name, problem: 'is not a known query parameter' });
  }
  if (problems.length > 0) throw validationError(problems, 'the query is invalid');
  return { orgId, beforeSeq, limit };
}
