// JSON schema of the write request: one audit event, or { "events": [...] }.
// Field names are the audit_logs column names. Chain columns (chain_seq,
// prev_checksum, checksum, ...) and recorded_at are not listed, so
// `additionalProperties: false` refuses them: only the database assigns them.

/** Columns a client may never supply; named in the error so the refusal is not mistaken for a typo. */
export const SERVER_ASSIGNED_FIELDS = new Set([
  'chain_seq',
  'recorded_at',
  'prev_checksum',
  'checksum',
  'checksum_version',
  'pii_digest',
  'pii_salt',
]);

export const RESULTS = ['success', 'failure', 'denied'] as const;

/** An event as validated; optional fields left out take the column default (NULL, now() or 'success'). */
export interface AuditEventInput {
  id?: string;
  org_id: string | null;
  occurred_at?: string;
  actor_type: string;
  actor_id?: string | null;
  actor_email?: string | null;
  action: string;
  resource_type?: string | null;
  resource_id?: string | null;
  resource_name?: string | null;
  details?: Record<string, unknown> | null;
  ip_address?: string | null;
  user_agent?: string | null;
  result?: (typeof RESULTS)[number];
  error_message?: string | null;
}

export type WriteEventsBody = AuditEventInput | { events: AuditEventInput[] };

const text = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength });
const optionalText = (maxLength: number) => ({ type: ['string', 'null'], maxLength });

export const auditEventSchema = {
  type: 'object',
  // org_id is required, null included: an event that forgot its organization
  // must not land in the system chain by default.
  required: ['org_id', 'actor_type', 'action'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', format: 'uuid' },
    org_id: { type: ['string', 'null'], format: 'uuid' },
    occurred_at: { type: 'string', format: 'date-time' },
    actor_type: text(64),
    actor_id: optionalText(256),
    actor_email: optionalText(320),
    action: text(128),
    resource_type: optionalText(64),
    resource_id: optionalText(256),
    resource_name: optionalText(1024),
    details: { type: ['object', 'null'] },
    ip_address: { type: ['string', 'null'], format: 'ip-address' },
    user_agent: optionalText(1024),
    result: { type: 'string', enum: RESULTS },
    error_message: optionalText(4096),
  },
} as const;

/**
 * The body is a batch when it has an `events` key. if/then/else rather than
 * oneOf, so an invalid body gets the errors of the shape it meant, not of both.
 */
export function writeEventsBodySchema(maxBatch: number) {
  return {
    type: 'object',
    if: { required: ['events'] },
    then: {
      additionalProperties: false,
      properties: {
        events: { type: 'array', minItems: 1, maxItems: maxBatch, items: auditEventSchema },
      },
    },
    else: auditEventSchema,
  } as const;
}

export function isBatch(body: WriteEventsBody): body is { events: AuditEventInput[] } {
  return 'events' in body;
}
