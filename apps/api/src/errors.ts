// The one error shape of the API, and the mapping of every failure to it:
//   { "error": "<machine code>", "message": "<for humans>", "details": [{ "field", "problem" }] }
// `details` is always present (empty when no field is to blame). A body field is
// a JSON pointer into the request body ("/events/3/org_id"); a query or path
// parameter is its name ("limit").
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { classifyDatabaseError, isSchemaMissing, RUN_MIGRATE } from '@audit-chain/db';
import { isSystemChainRefusal, UNSUPPORTED_ON_CITUS } from '@audit-chain/citus';
import { SERVER_ASSIGNED_FIELDS } from './event-schema.ts';
import { sentErrorCodes } from './request-log.ts';

export interface FieldProblem {
  field: string;
  problem: string;
}

export interface ErrorBody {
  error: string;
  message: string;
  details: FieldProblem[];
}

/** Bounds the response to a batch with a problem in every field of every row. */
const MAX_DETAILS = 100;

export class ApiError extends Error {
  override name = 'ApiError';
  readonly statusCode: number;
  readonly code: string;
  readonly details: FieldProblem[];
  readonly headers: Record<string, string>;

  constructor(statusCode: number, code: string, message: string, options: { details?: FieldProblem[]; headers?: Record<string, string> } = {}) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
    this.details = options.details ?? [];
    this.headers = options.headers ?? {};
  }
}

export function validationError(details: FieldProblem[], message = 'the request is invalid; nothing was written'): ApiError {
  return new ApiError(400, 'validation_failed', message, { details });
}

/** Fastify's error handler: every error, ours or the framework's, leaves as an ErrorBody. */
export function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const apiError = toApiError(error, request.method !== 'GET' && request.method !== 'HEAD');
  // Client errors are on the request line (request-log.ts); a server error gets its own line, with the stack.
  if (apiError.statusCode >= 500) request.log.error({ err: error, method: request.method, url: request.url.split('?')[0] }, apiError.message);
  sendError(reply, apiError);
}

export function sendError(reply: FastifyReply, error: ApiError): void {
  const details = error.details.slice(0, MAX_DETAILS);
  if (error.details.length > MAX_DETAILS) {
    details.push({ field: '', problem: `${error.details.length - MAX_DETAILS} more problems not shown` });
  }
  const body: ErrorBody = { error: error.code, message: error.message, details };
  sentErrorCodes.set(reply, error.code);
  void reply.code(error.statusCode).headers(error.headers).send(body);
}

export function notFound(request: FastifyRequest, reply: FastifyReply): void {
  sendError(reply, new ApiError(404, 'not_found', `no route for ${request.method} ${request.url.split('?')[0]}`));
}

function toApiError(error: FastifyError, writing: boolean): ApiError {
  if (error instanceof ApiError) return error;
  if (error.validation) return validationError(error.validation.flatMap(ajvProblem));
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'payload_too_large', `${error.message}; split the batch`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 'unsupported_media_type', 'the body must be sent as Content-Type: application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError(400, 'malformed_json', `${error.message}; nothing was written`);
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new ApiError(error.statusCode, 'bad_request', error.message);
  }
  const outcome = writing ? '; nothing was written' : '';
  return databaseError(error, outcome) ?? new ApiError(500, 'internal_error', `internal error${outcome}`);
}

/**
 * SQLSTATE classes come from @audit-chain/db's single mapping. Nothing is
 * retried here: the client gets the failure and decides, so an event is
 * acknowledged only after its COMMIT.
 */
function databaseError(error: unknown, outcome: string): ApiError | undefined {
  if (isSchemaMissing(error)) return new ApiError(500, 'database_not_migrated', `${RUN_MIGRATE}${outcome}`);
  switch (classifyDatabaseError(error)) {
    case 'transient':
      return new ApiError(503, 'database_unavailable', `the database is unavailable${outcome}; retry later`, {
        headers: { 'retry-after': '1' },
      });
    case 'conflict':
      if (constraintOf(error) === 'audit_logs_pkey') {
        return new ApiError(409, 'duplicate_event_id', `an event id in the request already exists or repeats within the batch${outcome}${pgDetail(error)}`);
      }
      return new ApiError(409, 'conflict', `the database refused a duplicate${outcome}${pgDetail(error)}`);
    case 'invalid_input':
      if (isSystemChainRefusal(error)) return new ApiError(400, 'not_supported_on_citus', `${UNSUPPORTED_ON_CITUS.systemChain}${outcome}`);
      return new ApiError(400, 'rejected_by_database', `the database refused a value${outcome}${pgDetail(error)}`);
    case 'permission_denied':
    case 'append_only':
      // The API's own role or SQL is wrong: the client cannot fix it.
      return new ApiError(500, 'database_refused', `the database refused the statement${outcome}`);
    default:
      return undefined;
  }
}

function constraintOf(error: unknown): string | undefined {
  const constraint = typeof error === 'object' && error !== null && 'constraint' in error ? error.constraint : undefined;
  return typeof constraint === 'string' ? constraint : undefined;
}

function pgDetail(error: unknown): string {
  const detail = typeof error === 'object' && error !== null && 'detail' in error ? error.detail : undefined;
  return typeof detail === 'string' && detail !== '' ? ` (${detail})` : '';
}

interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

function ajvProblem(raw: unknown): FieldProblem[] {
  const error = raw as AjvError;
  const at = (name: unknown) => `${error.instancePath}/${String(name)}`;
  switch (error.keyword) {
    case 'if':
      // Only says "must match the then/else schema"; that schema's own errors are listed too.
      return [];
    case 'required':
      return [{ field: at(error.params.missingProperty), problem: 'is required' }];
    case 'additionalProperties': {
      const name = String(error.params.additionalProperty);
      const problem = SERVER_ASSIGNED_FIELDS.has(name)
        ? 'is assigned by the server and cannot be supplied'
        : 'is not a known field';
      return [{ field: at(name), problem }];
    }
    case 'type':
      if (error.instancePath === '') {
        return [{ field: '', problem: 'the body must be a JSON object: one event, or { "events": [...] }' }];
      }
      return [{ field: error.instancePath, problem: `must be ${String(error.params.type).split(',').join(' or ')}` }];
    case 'format':
      return [{ field: error.instancePath, problem: FORMAT_PROBLEMS[String(error.params.format)] ?? error.message ?? 'has the wrong format' }];
    case 'enum':
      return [{ field: error.instancePath, problem: `must be one of ${(error.params.allowedValues as unknown[]).join(', ')}` }];
    default:
      return [{ field: error.instancePath, problem: error.message ?? error.keyword }];
  }
}

const FORMAT_PROBLEMS: Record<string, string> = {
  uuid: 'must match format uuid (8-4-4-4-12 hex digits)',
  'date-time': 'must match format date-time (RFC 3339 with a 4-digit year and a time zone, e.g. 2024-05-01T12:00:00Z)',
  'ip-address': 'must match format ip address (one IPv4 or IPv6 address, no prefix length)',
};
