// POST /v1/audit-events: one event, or { "events": [...] } written atomically.
// 201 only after COMMIT; any error writes nothing.
import type { FastifyInstance } from 'fastify';
import type { Pool } from '@audit-chain/db';
import { requireBearerToken } from '../auth.ts';
import { insertAuditEvents } from '../db/insert-audit-events.ts';
import { validationError } from '../errors.ts';
import { isBatch, writeEventsBodySchema, type WriteEventsBody } from '../event-schema.ts';
import { findUnstorableText } from '../storable-text.ts';

export interface WriteEventsOptions {
  pool: Pool;
  writeToken: string | undefined;
  maxBatch: number;
  bodyLimitBytes: number;
}

export function registerWriteEvents(app: FastifyInstance, options: WriteEventsOptions): void {
  app.post<{ Body: WriteEventsBody }>(
    '/v1/audit-events',
    {
      onRequest: requireBearerToken(options.writeToken),
      bodyLimit: options.bodyLimitBytes,
      schema: { body: writeEventsBodySchema(options.maxBatch) },
    },
    async (request, reply) => {
      const body = request.body;
      const batch = isBatch(body);
      const events = batch ? body.events : [body];
      const problems = events.flatMap((event, index) => findUnstorableText(event, batch ? `/events/${index}` : ''));
      if (problems.length > 0) throw validationError(problems);

      const created = await insertAuditEvents(options.pool, events);
      return reply.code(201).send(batch ? { events: created } : created[0]);
    },
  );
}
