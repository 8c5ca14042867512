// The API server factory. Tests call it directly (Fastify inject); index.ts
// wires it to configuration and a pool and listens.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { createLogger } from '@audit-chain/logging';
import type { Config } from '@audit-chain/config';
import type { Pool } from '@audit-chain/db';
import { registerAdmin } from './admin/index.ts';
import { clientErrorHandler } from './client-errors.ts';
import { ApiError, handleError, notFound, sendError } from './errors.ts';
import { isDateTime, isIpAddress, isUuid } from './formats.ts';
import { registerJsonBodyParser } from './json-body.ts';
import { registerRequestLog } from './request-log.ts';
import { registerDocs } from './routes/docs.ts';
import { registerHealth } from './routes/health.ts';
import { registerListEvents } from './routes/list-events.ts';
import { registerWriteEvents } from './routes/write-events.ts';

export interface ServerDeps {
  pool: Pool;
  config: Pick<Config, 'api' | 'logLevel'>;
  /** Fastify logger options (tests pass false); without them and without loggerInstance, createLogger at config.logLevel. */
  logger?: FastifyServerOptions['logger'];
  /** A logger to share (npm start gives the API and the worker one). */
  loggerInstance?: FastifyBaseLogger;
  /** How long /readyz waits for the database. */
  readyTimeoutMs?: number;
  /** How often the admin surface samples the lag for its chart (default 10 s; 0: off). */
  adminSampleIntervalMs?: number;
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const { api } = deps.config;
  const logging =
    deps.loggerInstance !== undefined
      ? { loggerInstance: deps.loggerInstance }
      : deps.logger !== undefined
        ? { logger: deps.logger }
        : { loggerInstance: createLogger({ level: deps.config.logLevel }) as FastifyBaseLogger };
  const app = Fastify({
    ...logging,
    // One line per request instead of two (request-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
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
    clientErrorHandler,
    frameworkErrors: (error, _request, reply) => {
      sendError(reply, new ApiError(error.statusCode ?? 400, 'bad_request', error.message));
    },
  });

  // Only JSON bodies: the default text/plain parser would turn a wrong content type into a 400.
  app.removeContentTypeParser('text/plain');
  // JSON without losing or changing anything: numbers as written, duplicate keys,
  // invalid UTF-8, other charsets and prototype keys refused (json-body.ts).
  registerJsonBodyParser(app);
  registerRequestLog(app);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(notFound);

  registerRoutes(app, deps);
  return app;
}

/** Every route of the API (buildServer's, and the OpenAPI test's list of what must be documented). */
export function registerRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const { api } = deps.config;
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
  registerDocs(app);
}
