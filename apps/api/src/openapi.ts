// The OpenAPI 3.1 description of every route the API serves, at /openapi.json
// and as a readable page at /docs: the audit event routes (write and read), the
// probes, and the admin surface (admin/openapi.ts). Hand-written; the tests check
// that every registered route is described, and validate real responses
// against the schemas.
import { ADMIN_PATHS, ADMIN_SCHEMAS, errorResponse } from './admin/openapi.ts';
import { auditEventSchema } from './event-schema.ts';
import { MAX_LIMIT, DEFAULT_LIMIT } from './routes/list-events.ts';

type Schema = Record<string, unknown>;
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (description: string, schema: Schema) => ({ description, content: { 'application/json': { schema } } });
const str: Schema = { type: 'string' };
const seq: Schema = { type: 'string', pattern: '^[0-9]+$', description: 'a chain_seq (bigint as a string)' };
const recordedAt: Schema = { type: 'string', format: 'date-time', description: 'when the database stored the row (UTC, microseconds)' };

const EVENT_SCHEMAS: Record<string, Schema> = {
  AuditEvent: { ...auditEventSchema, description: 'One audit event as written. chain_seq, recorded_at and the chain columns are assigned by the database and refused here.' },
  AuditEventBatch: {
    type: 'object',
    additionalProperties: false,
    required: ['events'],
    properties: { events: { type: 'array', minItems: 1, items: ref('AuditEvent'), description: 'up to AUDIT_CHAIN_MAX_BATCH events (default 1000), written in one transaction' } },
  },
  WrittenEvent: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'chain_seq', 'recorded_at'],
    properties: { id: { type: 'string', format: 'uuid' }, chain_seq: seq, recorded_at: recordedAt },
  },
  StoredEvent: {
    type: 'object',
    additionalProperties: false,
    required: [...Object.keys(auditEventSchema.properties), 'chain_seq', 'recorded_at', 'sealed'],
    properties: {
      ...auditEventSchema.properties,
      ip_address: { type: ['string', 'null'] },
      occurred_at: { type: 'string', format: 'date-time' },
      chain_seq: seq,
      recorded_at: recordedAt,
      sealed: { type: 'boolean', description: "at or below its chain's watermark: the sealer has linked it" },
    },
  },
  EventsPage: {
    type: 'object',
    additionalProperties: false,
    required: ['events', 'next_cursor'],
    properties: {
      events: { type: 'array', items: ref('StoredEvent') },
      next_cursor: { type: ['string', 'null'], description: 'pass back as cursor for the next (older) page; null on the last page' },
    },
  },
  Status: { type: 'object', required: ['status'], properties: { status: str } },
};

const bearerErrors = {
  '401': errorResponse('no bearer token, or not the write token (unauthorized, with WWW-Authenticate: Bearer)'),
  '503': errorResponse('no write token configured (auth_not_configured), or the database is unavailable (database_unavailable, with Retry-After)'),
};

const EVENT_PATHS = {
  '/v1/audit-events': {
    post: {
      summary: 'Write audit events',
      description:
        'One event, or { "events": [...] } written atomically: all rows or none. 201 only after COMMIT. ' +
        'The body must be JSON in UTF-8; types are not coerced and unknown fields are refused.',
      tags: ['audit events'],
      security: [{ writeToken: [] }],
      requestBody: { required: true, content: { 'application/json': { schema: { anyOf: [ref('AuditEvent'), ref('AuditEventBatch')] } } } },
      responses: {
        '201': json('stored: one event, or { "events": [...] } in request order', {
          anyOf: [ref('WrittenEvent'), { type: 'object', additionalProperties: false, required: ['events'], properties: { events: { type: 'array', items: ref('WrittenEvent') } } }],
        }),
        '400': errorResponse('validation_failed (details: JSON pointers), malformed_json, forbidden_key, rejected_by_database, not_supported_on_citus (org_id null on Citus)'),
        '409': errorResponse('duplicate_event_id: an id exists already or repeats within the batch; nothing was written'),
        '413': errorResponse('payload_too_large (AUDIT_CHAIN_BODY_LIMIT_BYTES)'),
        '415': errorResponse('unsupported_media_type: not application/json, or a charset other than UTF-8'),
        ...bearerErrors,
      },
    },
  },
  '/v1/orgs/{orgId}/audit-events': {
    get: {
      summary: "One chain's events, newest first",
      tags: ['audit events'],
      security: [{ writeToken: [] }],
      parameters: [
        { name: 'orgId', in: 'path', required: true, schema: str, description: "an organization's uuid, or 'system' for the events with no organization" },
        { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT } },
        { name: 'cursor', in: 'query', required: false, schema: str, description: 'next_cursor of the previous page' },
      ],
      responses: {
        '200': json('one page', ref('EventsPage')),
        '400': errorResponse('an invalid orgId, limit or cursor, or an unknown query parameter (details name it)'),
        ...bearerErrors,
      },
    },
  },
  '/healthz': {
    get: { summary: 'The process serves requests (no database)', tags: ['probes'], security: [], responses: { '200': json('ok', ref('Status')) } },
  },
  '/readyz': {
    get: {
      summary: 'The database answers within 2 s',
      tags: ['probes'],
      security: [],
      responses: { '200': json('ready', ref('Status')), '503': errorResponse('not_ready: the database is not reachable') },
    },
  },
  '/': {
    get: {
      summary: 'Index: links to the admin page, the API docs and the probes',
      tags: ['docs'],
      security: [],
      responses: {
        '200': {
          description: 'HTML for a browser (Accept: text/html), else JSON',
          content: { 'text/html': { schema: str }, 'application/json': { schema: { type: 'object' } } },
        },
      },
    },
  },
  '/docs': {
    get: { summary: 'This description as a readable page (Swagger UI, served locally)', tags: ['docs'], security: [], responses: { '200': { description: 'the page', content: { 'text/html': { schema: str } } } } },
  },
  '/openapi.json': {
    get: { summary: 'This document', tags: ['docs'], security: [], responses: { '200': json('OpenAPI 3.1', {}) } },
  },
};

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'audit-chain API',
    version: '1',
    description:
      'Write and read tamper-evident audit events (apps/api/README.md), and watch the chains (docs/operations.md). ' +
      'The /v1 routes need `Authorization: Bearer <AUDIT_CHAIN_API_TOKEN>`; every /admin/v1 route and /metrics needs ' +
      '`Authorization: Bearer <AUDIT_CHAIN_ADMIN_TOKEN>` (the write token is refused there). ' +
      'Every error has the shape { error, message, details }.',
  },
  tags: [
    { name: 'audit events', description: 'write and read the audit log' },
    { name: 'admin', description: 'lag, verification and checkpoints, for operators' },
    { name: 'probes', description: 'liveness and readiness' },
    { name: 'docs', description: 'this description and the index' },
  ],
  components: {
    securitySchemes: {
      writeToken: { type: 'http', scheme: 'bearer', description: 'AUDIT_CHAIN_API_TOKEN' },
      adminToken: { type: 'http', scheme: 'bearer', description: 'AUDIT_CHAIN_ADMIN_TOKEN' },
    },
    schemas: { ...ADMIN_SCHEMAS, ...EVENT_SCHEMAS },
  },
  paths: { ...EVENT_PATHS, ...ADMIN_PATHS },
} as const;
