// The API server factory. Tests call it directly (Fastify inject); index.ts
// wires it to configuration and a pool and listens.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from '@audit-chain/config';
import type { Pool } from '@audit-chain/db';
import { registerAdmin } from './admin/index.ts';
import { ApiError, handleError, notFound, sendError } from './errors.ts';
import { isDateTime, isIpAddress, isUuid } from './formats.ts';
import { registerJsonBodyParser } from './json-body.ts';
import { registerHealth } from './routes/health.ts';
import { registerListEvents } from './routes/list-events.ts';
import { registerWriteEvents } from './routes/write-events.ts';

export interface ServerDeps {
  pool: Pool;
  config: Pick<Config, 'api' | 'logLevel'>;
  /** Fastify logger options; defaults to pino at config.logLevel. */
  logger?: FastifyServerOptions['logger'];
  /** How long /readyz waits for the database. */
  readyTimeoutMs?: number;
  /** How often the admin surface samples the lag for its chart (default 10 s; 0: off). */
  adminSampleIntervalMs?: number;
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const { api } = deps.config;
  const app = Fastify({
    logger: deps.logger ?? { level: deps.config.logLevel },
    bodyLimit: api.bodyLimitBytes,
    ajv: {
      customOptions: {
        // Fastify's defaults coerce types and strip unknown properties; an audit
        // API must refuse both, so a forged chain_seq is an error, not dropped.
        coerceTypes: false,
        removeAdditional: false,
        useDefaults: false,
        // Report every bad field of a batch at once. Bounded by bodyLimit and maxBatch.
        allErrors: true,
        allowUnionTypes: true,
      },
      // Replaces ajv-formats' uuid and date-time with what PostgreSQL accepts (formats.ts).
      onCreate: (ajv) => {
        ajv.addFormat('uuid', isUuid);
        ajv.addFormat('date-time', isDateTime);
        ajv.addFormat('ip-address', isIpAddress);
      },
    },
    frameworkErrors: (error, _request, reply) => {
      sendError(reply, new ApiError(error.statusCode ?? 400, 'bad_request', error.message));
    },
  });

  // Only JSON bodies: the default text/plain parser would turn a wrong content type into a 400.
  app.removeContentTypeParser('text/plain');
  // JSON without losing or changing anything: numbers as written, duplicate keys and invalid UTF-8 refused (json-body.ts).
  registerJsonBodyParser(app);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(notFound);

  if (api.writeToken === undefined) {
    app.log.warn('AUDIT_CHAIN_API_TOKEN is not set: the audit routes refuse every request');
  }
  registerHealth(app, { pool: deps.pool, readyTimeoutMs: deps.readyTimeoutMs ?? 2000 });
  registerWriteEvents(app, {
    pool: deps.pool,
    writeToken: api.writeToken,
    maxBatch: api.maxBatch,
    bodyLimitBytes: api.bodyLimitBytes,
  });
  registerListEvents(app, { pool: deps.pool, readToken: api.writeToken });
  registerAdmin(app, { pool: deps.pool, api, sampleIntervalMs: deps.adminSampleIntervalMs });
  return app;
}
