// The admin surface's part of the OpenAPI 3.1 description (../openapi.ts joins
// it with the audit event routes). Hand-written; the tests check that every
// route is in it and validate real responses against these schemas (closed
// objects: a field added to or dropped from the lag model without updating this
// fails them).

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
const str: Schema = { type: 'string' };
const nstr: Schema = { type: ['string', 'null'] };
const int: Schema = { type: 'integer' };
const num: Schema = { type: 'number' };
const nnum: Schema = { type: ['number', 'null'] };
const seq: Schema = { type: 'string', pattern: '^[0-9]+$', description: 'a chain_seq (bigint as a string)' };
const time: Schema = { type: 'string', format: 'date-time' };
const ntime: Schema = { type: ['string', 'null'], format: 'date-time' };
const chain: Schema = { type: 'string', description: "audit_logs: an organization's uuid, or 'system' for the rows with a NULL org_id; an attached table: the chain key's value, 'null' for a NULL key, 'all' for a table without a key" };
const table: Schema = { type: 'string', description: 'the chained table, schema.table (audit_chain.audit_logs, or an attached table)' };
const orgId: Schema = { type: ['string', 'null'], format: 'uuid' };

/** A closed object: every property required (nullable ones are present as null). */
function object(properties: Record<string, Schema>, description?: string): Schema {
  return { type: 'object', additionalProperties: false, required: Object.keys(properties), properties, ...(description ? { description } : {}) };
}

const checkpointSummary: Record<string, Schema> = {
  id: int,
  chain_seq: seq,
  sealed_count: int,
  signed_at: time,
  age_seconds: num,
  key_id: str,
  rows_since: { type: 'integer', description: 'rows sealed since this checkpoint, not yet anchored outside the database' },
};

const verificationRun: Record<string, Schema> = {
  id: int,
  trigger: str,
  scope: nstr,
  started_at: time,
  finished_at: ntime,
  status: { type: 'string', description: 'running | clean | breaks | failed' },
  chains_checked: int,
  rows_checked: int,
  breaks_found: int,
  breaks: {},
  error: nstr,
};

export const ADMIN_SCHEMAS: Record<string, Schema> = {
  Error: object({
    error: str,
    message: str,
    details: { type: 'array', items: object({ field: str, problem: str }) },
  }),
  PendingRow: object({ chain_seq: seq, recorded_at: ntime, age_seconds: nnum }),
  ChainDrift: object(
    { message: str, command: { type: 'string', description: 'the command that confirms the new column set: audit-chain attach --table T --refresh' } },
    "The chain's table drifted: its columns changed; its chains are not sealed until the command is run.",
  ),
  CheckpointSummary: object(checkpointSummary),
  ChainVerification: object({
    verification_id: int,
    verified_at: time,
    age_seconds: num,
    rows_checked: int,
    breaks_found: int,
    first_break: {},
  }),
  ChainLag: object(
    {
      table,
      chain,
      chain_key: { type: ['string', 'null'], description: "the chain key's value as text (audit_logs: the org uuid); null for a NULL key or a table without one" },
      org_id: orgId,
      pending_rows: { type: 'integer', description: 'rows of the chain not sealed yet: counted into the chain, plus held_rows' },
      held_rows: { type: 'integer', description: "of pending_rows, the committed rows above the discovered position (audit_logs) or above the table's horizon (attached tables)" },
      sealed_rows: int,
      watermark_seq: seq,
      head_seq: { ...seq, description: 'highest chain_seq discovery has seen in this chain' },
      oldest_pending: nullable(ref('PendingRow')),
      last_sealed_at: ntime,
      last_seal_age_seconds: nnum,
      halted: nullable(object({ at: time, reason: nstr })),
      drift: nullable(ref('ChainDrift')),
      last_checkpoint: nullable(ref('CheckpointSummary')),
      last_verification: nullable(ref('ChainVerification')),
    },
    'Lag of one chain.',
  ),
  HorizonHolder: object(
    {
      pid: { type: ['integer', 'null'], description: 'null for a prepared transaction' },
      application_name: nstr,
      user_name: nstr,
      state: nstr,
      xact_start: ntime,
      xact_age_seconds: nnum,
      state_change: ntime,
      state_age_seconds: nnum,
      wait_event: nstr,
      query: nstr,
    },
    'An open transaction that wrote audit rows: the safe horizon cannot pass the chain_seq it holds.',
  ),
  HorizonLag: object({
    head_seq: seq,
    horizon_seq: seq,
    horizon_at: ntime,
    discovered_seq: seq,
    discovered_at: ntime,
    lag_seq: seq,
    held_seconds: { type: 'number', description: 'how long rows have waited behind the horizon (not idle time); 0 when nothing waits' },
    state: { type: 'string', enum: ['caught_up', 'open_writers', 'no_worker', 'advancing'] },
    holders: { type: 'array', items: ref('HorizonHolder') },
    workers_alive: int,
  }),
  Throughput: object({ rows_per_second: num, window_seconds: num, method: { type: 'string', enum: ['sealed_count_delta'] } }),
  OldestPending: object({ table, chain, org_id: orgId, chain_seq: seq, recorded_at: ntime, age_seconds: nnum, exact: { type: 'boolean' } }),
  TableLag: object(
    {
      table,
      format_version: { type: 'integer', description: '1: audit_logs; 2: an attached table' },
      chain_key_column: nstr,
      status: { type: 'string', enum: ['attached', 'drifted'] },
      drift: nullable(ref('ChainDrift')),
      head_seq: seq,
      horizon_seq: { ...seq, description: "the table's safe horizon (attached tables: as their sealer last proved it)" },
      horizon_at: ntime,
      held_seconds: num,
      state: { type: 'string', enum: ['caught_up', 'open_writers', 'no_worker', 'advancing'] },
      holders: { type: 'array', items: ref('HorizonHolder') },
      chains: int,
      chains_with_pending: int,
      pending_rows: int,
      pending_rows_discovered: int,
      held_rows: int,
      pending_unattributed: int,
      sealed_rows: int,
    },
    'One chained table; summed over the tables these figures make the totals.',
  ),
  LagTotals: object({
    chains: int,
    chains_with_pending: int,
    pending_rows: int,
    pending_rows_discovered: int,
    held_rows: int,
    pending_unattributed: { type: 'integer', description: "chain_seq values above the discovered position (or an attached table's horizon) no chain counts: open transactions, rollbacks (an upper bound)" },
    pending_above_discovered: int,
    sealed_rows: int,
    oldest_pending: nullable(ref('OldestPending')),
    halted_chains: int,
    drifted_tables: int,
    throughput: nullable(ref('Throughput')),
  }),
  LagOverview: object({
    generated_at: time,
    horizon: ref('HorizonLag'),
    totals: ref('LagTotals'),
    tables: { type: 'array', items: ref('TableLag') },
    chains: { type: 'array', items: ref('ChainLag') },
    next_cursor: nstr,
  }),
  CheckpointRecord: object({
    id: { type: 'integer', description: "the record's id in its table's checkpoint record (audit_chain_checkpoints for audit_logs, audit_chain_table_checkpoints for attached tables)" },
    table,
    chain,
    chain_key: { type: ['string', 'null'], description: "the chain key's value as text (audit_logs: the org uuid); null for a NULL key or a table without one" },
    org_id: orgId,
    chain_seq: seq,
    sealed_count: int,
    checksum: str,
    signed_at: time,
    key_id: str,
    signature: str,
    body: {},
    exported_to: {},
    created_at: time,
  }),
  ChainDetail: object({
    generated_at: time,
    horizon: ref('HorizonLag'),
    chain: ref('ChainLag'),
    table_lag: { ...nullable(ref('TableLag')), description: "an attached chain's table (its own horizon and open writers); null for audit_logs' chains" },
    recent_checkpoints: { type: 'array', items: ref('CheckpointRecord'), description: 'the latest 5, highest chain_seq first' },
  }),
  WorkerInfo: object({
    worker_id: str,
    hostname: str,
    pid: int,
    started_at: time,
    heartbeat_at: time,
    heartbeat_age_seconds: num,
    stopped_at: ntime,
    alive: { type: 'boolean' },
    state: { type: 'string', enum: ['alive', 'stale', 'gone', 'stopped'] },
    sealed_rows: int,
    sealed_batches: int,
    errors: int,
    last_error: nstr,
    last_error_at: ntime,
    horizon_seq: { type: ['string', 'null'] },
  }),
  WorkersSummary: object({
    alive: int,
    stale: int,
    gone: { type: 'integer', description: 'workers silent past the gone limit (10 min): no longer counted as stale' },
    sealed_rows: int,
    errors: int,
    last_heartbeat_age_seconds: nnum,
    recent: { type: 'array', items: ref('WorkerInfo') },
  }),
  SealLatency: object({
    buckets: { type: 'array', items: object({ le_ms: nnum, count: int }) },
    count: int,
    sum_ms: num,
    p50_ms: nnum,
    p95_ms: nnum,
    p99_ms: nnum,
  }),
  VerificationRun: object(verificationRun),
  VerificationSummary: object({ chains_verified: int, chains_with_breaks: int, breaks: int }),
  HaltedChain: object({ chain, org_id: orgId, halted_at: time, reason: nstr }),
  LagStatus: object({
    generated_at: time,
    horizon: ref('HorizonLag'),
    totals: ref('LagTotals'),
    tables: { type: 'array', items: ref('TableLag') },
    workers: ref('WorkersSummary'),
    seal_latency: ref('SealLatency'),
    last_checkpoint: nullable(object({ ...checkpointSummary, chain, org_id: orgId })),
    last_verification: nullable(object({ ...verificationRun, age_seconds: nnum })),
    verification: ref('VerificationSummary'),
    halted: object({ count: int, chains: { type: 'array', items: ref('HaltedChain') } }),
  }),
  ChainVerificationStatus: object({
    chain,
    org_id: orgId,
    verification_id: int,
    verified_at: time,
    age_seconds: num,
    rows_checked: int,
    breaks_found: int,
    first_break: {},
  }),
  VerificationsPage: object({
    generated_at: time,
    runs: { type: 'array', items: ref('VerificationRun') },
    latest_per_chain: { type: 'array', items: ref('ChainVerificationStatus') },
    summary: ref('VerificationSummary'),
  }),
  CheckpointsPage: object({ generated_at: time, checkpoints: { type: 'array', items: ref('CheckpointRecord') }, next_cursor: nstr }),
  LagHistory: object({
    interval_seconds: nnum,
    samples: {
      type: 'array',
      items: object({
        at: time,
        pending_rows: int,
        oldest_pending_age_seconds: nnum,
        sealed_rows: int,
        horizon_lag_seq: int,
        horizon_held_seconds: num,
      }),
    },
  }),
};

export const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: ref('Error') } } });
const adminErrors = {
  '400': errorResponse('a query or path parameter is invalid (details name it)'),
  '401': errorResponse('no bearer token'),
  '403': errorResponse('the token is not the admin token (the write token is refused too)'),
  '503': errorResponse('no admin token configured (auth_not_configured), or the database is unavailable'),
};
const json = (description: string, schema: string) => ({ description, content: { 'application/json': { schema: ref(schema) } } });
const limitParam = (fallback: number, max: number) => ({
  name: 'limit',
  in: 'query',
  required: false,
  schema: { type: 'integer', minimum: 1, maximum: max, default: fallback },
});
const cursorParam = { name: 'cursor', in: 'query', required: false, schema: str, description: 'next_cursor of the previous page' };
const admin = (summary: string, description: string, response: Record<string, unknown>, parameters: unknown[] = []) => ({
  summary,
  description,
  tags: ['admin'],
  security: [{ adminToken: [] }],
  parameters,
  responses: { '200': response, ...adminErrors },
});

export const ADMIN_PATHS = {
  '/admin/v1/lag': {
    get: admin(
      'Lag overview, worst chains first',
      'Every chain ordered by pending rows (most first), then by how long it has waited since its last seal, then by chain; with the horizon and totals over all chains. Paginated with next_cursor.',
      json('one page of the overview', 'LagOverview'),
      [limitParam(50, 500), cursorParam],
    ),
  },
  '/admin/v1/lag/{orgId}': {
    get: {
      ...admin('Lag of one chain', 'One chain with its recent checkpoints and the horizon.', json('the chain', 'ChainDetail'), [
        { name: 'orgId', in: 'path', required: true, schema: str, description: "an organization's uuid, or 'system'" },
      ]),
      responses: {
        '200': json('the chain', 'ChainDetail'),
        '404': errorResponse('no audit rows for this chain (chain_not_found)'),
        ...adminErrors,
      },
    },
  },
  '/admin/v1/lag/tables/{table}/chains/{chain}': {
    get: {
      ...admin(
        'Lag of one chain of any chained table',
        "One chain of an attached table (or of audit_chain.audit_logs) with the overview's figures, its latest checkpoints and its table's horizon. Both path parameters are URL-encoded (a chain key may hold spaces, slashes, any text).",
        json('the chain', 'ChainDetail'),
        [
          { name: 'table', in: 'path', required: true, schema: str, description: 'schema.table, as the overview names it' },
          {
            name: 'chain',
            in: 'path',
            required: true,
            schema: str,
            description:
              "the overview's chain id: an attached table's chain key value, 'null' for rows with a NULL key (unless the table has a chain whose key is the text 'null'), 'all' for a table without a chain key; audit_logs: an organization's uuid or 'system'",
          },
        ],
      ),
      responses: {
        '200': json('the chain', 'ChainDetail'),
        '404': errorResponse('no such chained table (table_not_found) or no such chain in it (chain_not_found)'),
        ...adminErrors,
      },
    },
  },
  '/admin/v1/status': {
    get: admin(
      'One-screen summary',
      'Horizon and its holders, totals, workers, seal latency, last checkpoint, last verification and halted chains.',
      json('the summary', 'LagStatus'),
    ),
  },
  '/admin/v1/verifications': {
    get: admin(
      'Verification runs and the latest result per chain',
      'Recent runs, newest first, and the latest result of each chain (breaks first, then the longest unverified), each list up to limit.',
      json('runs and results', 'VerificationsPage'),
      [limitParam(20, 100)],
    ),
  },
  '/admin/v1/checkpoints': {
    get: {
      ...admin(
        'Recorded signed checkpoints, newest first',
        "Without table, audit_logs' checkpoints; with table, that chained table's (an attached table's are in audit_chain_table_checkpoints). With org (audit_logs) or chain (with table), one chain in chain_seq order (newest first); without, every chain of the table in the order they were recorded. The record is a convenience copy: verification trusts signatures, not it.",
        json('one page of checkpoints', 'CheckpointsPage'),
        [
          { name: 'org', in: 'query', required: false, schema: str, description: "audit_logs' chain: an organization's uuid, or 'system' (not with table)" },
          { name: 'table', in: 'query', required: false, schema: str, description: 'schema.table: an attached table, or audit_chain.audit_logs' },
          { name: 'chain', in: 'query', required: false, schema: str, description: "with table: one chain, named as in the overview (see /admin/v1/lag/tables/{table}/chains/{chain}); a chain without checkpoints gives an empty page" },
          limitParam(50, 500),
          cursorParam,
        ],
      ),
      responses: {
        '200': json('one page of checkpoints', 'CheckpointsPage'),
        '404': errorResponse('no such chained table (table_not_found), or a chain its table cannot have (chain_not_found)'),
        ...adminErrors,
      },
    },
  },
  '/admin/v1/history': {
    get: admin(
      'The last hour of lag, sampled by this API process',
      'Kept in memory: empty after the process starts, and per API replica. Prometheus keeps the durable history.',
      json('samples, oldest first', 'LagHistory'),
    ),
  },
  '/metrics': {
    get: {
      summary: 'Prometheus metrics',
      tags: ['admin'],
      description: 'The lag model in the Prometheus text format; per-organization series for the worst AUDIT_CHAIN_METRICS_TOP_N chains plus org_id="_total".',
      security: [{ adminToken: [] }],
      responses: { '200': { description: 'metrics', content: { 'text/plain': { schema: str } } }, ...adminErrors },
    },
  },
  '/admin/': {
    get: {
      summary: 'Admin page',
      tags: ['admin'],
      description: 'A self-contained HTML page (no external resources); it asks for the admin token and keeps it in sessionStorage.',
      security: [],
      responses: { '200': { description: 'the page', content: { 'text/html': { schema: str } } } },
    },
  },
} as const;
