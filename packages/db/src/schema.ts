// Table DDL for the audit chain. Triggers, functions, roles and grants live in
// custom migrations under drizzle/ (one concern per file); this file is what
// drizzle-kit generates table DDL from.
import { sql } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import { CHAIN_SCHEMA } from './chain-schema.ts';

/** Every table of ours lives in our own schema (chain-schema.ts). */
const chainSchema = pgSchema(CHAIN_SCHEMA);
const pgTable = chainSchema.table;
import {
  bigint,
  check,
  index,
  inet,
  integer,
  jsonb,
  pgSchema,
  smallint,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';

/** Sequence that gives every audit row its chain_seq. CACHE 1 is part of the safe-horizon argument (docs/sealing.md). */
export const CHAIN_SEQ_SEQUENCE = 'audit_logs_chain_seq';

/**
 * Marks a column that clients never insert (chain_seq, recorded_at, and the columns only the
 * sealer writes): drizzle leaves it out of every INSERT, so `db.insert(auditLogs)`
 * works under the writer role, whose column privileges do not include it. drizzle
 * has no public flag for this (only generated columns are left out; identity
 * columns are sent as `default`, which still needs the column privilege), hence
 * the override.
 */
function omitFromInsert<C extends AnyPgColumn>(column: C): C {
  Object.defineProperty(column, 'shouldDisableInsert', { value: () => true });
  return column;
}

export const auditLogs = pgTable(
  'audit_logs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** NULL is the system chain: events that belong to no organization. */
    orgId: uuid('org_id'),
    chainSeq: bigint('chain_seq', { mode: 'number' })
      .notNull()
      .generatedAlwaysAsIdentity({ name: CHAIN_SEQ_SEQUENCE, cache: 1 }),
    occurredAt: timestamp('occurred_at', { withTimezone: true, precision: 6 }).notNull().defaultNow(),
    /** Always the server's: the writer role has no INSERT privilege on it (drizzle/0035), so it is left out of INSERT below. */
    recordedAt: timestamp('recorded_at', { withTimezone: true, precision: 6 }).notNull().defaultNow(),
    actorType: text('actor_type').notNull(),
    actorId: text('actor_id'),
    actorEmail: text('actor_email'),
    action: text('action').notNull(),
    resourceType: text('resource_type'),
    resourceId: text('resource_id'),
    resourceName: text('resource_name'),
    details: jsonb('details'),
    ipAddress: inet('ip_address'),
    userAgent: text('user_agent'),
    result: text('result').notNull().default('success'),
    errorMessage: text('error_message'),
    prevChecksum: text('prev_checksum'),
    checksum: text('checksum'),
    checksumVersion: smallint('checksum_version'),
    piiDigest: text('pii_digest'),
    piiSalt: text('pii_salt'),
  },
  (t) => [
    // Listing an organization's events and reading its pending rows both walk this index.
    index('audit_logs_org_chain_seq_idx').on(t.orgId, t.chainSeq),
    // Finds rows above a position for all organizations at once; nearly free to maintain on an append-only key.
    index('audit_logs_chain_seq_brin').using('brin', t.chainSeq),
    // The no-fork index (org_id, prev_checksum) needs NULLS NOT DISTINCT on a partial
    // index, which drizzle cannot express: it lives in a custom migration.
    check('audit_logs_chain_link_pairs', sql`(${t.prevChecksum} is null) = (${t.checksum} is null)`),
    check('audit_logs_chain_version_pairs', sql`(${t.checksum} is null) = (${t.checksumVersion} is null)`),
    check('audit_logs_result_known', sql`${t.result} in ('success', 'failure', 'denied')`),
  ],
);

omitFromInsert(auditLogs.chainSeq);
omitFromInsert(auditLogs.recordedAt);
omitFromInsert(auditLogs.prevChecksum);
omitFromInsert(auditLogs.checksum);
omitFromInsert(auditLogs.checksumVersion);
omitFromInsert(auditLogs.piiDigest);
omitFromInsert(auditLogs.piiSalt);

/**
 * One row per chain (organization, or NULL for the system chain): how far it is
 * sealed. The sealer locks this row for the length of a sealing transaction.
 */
export const auditChainState = pgTable(
  'audit_chain_state',
  {
    orgId: uuid('org_id'),
    /** chain_seq of the last sealed row; 0 before the first. */
    watermarkSeq: bigint('watermark_seq', { mode: 'number' }).notNull().default(0),
    /** checksum of the row at the watermark; NULL before the first. */
    headChecksum: text('head_checksum'),
    sealedCount: bigint('sealed_count', { mode: 'number' }).notNull().default(0),
    lastSealedAt: timestamp('last_sealed_at', { withTimezone: true }),
    /** Set when sealing found a broken invariant; sealing of this chain stops until an operator clears it. */
    haltedAt: timestamp('halted_at', { withTimezone: true }),
    haltedReason: text('halted_reason'),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    unique('audit_chain_state_org_unique').on(t.orgId).nullsNotDistinct(),
    check('audit_chain_state_head_pairs', sql`(${t.watermarkSeq} = 0) = (${t.headChecksum} is null)`),
  ],
);

/**
 * What the discovery stage has counted per chain, up to the global
 * discovered_seq. Kept apart from audit_chain_state so that counting never waits
 * on a chain that is being sealed (only, at most, on the end of a seal's
 * transaction: the sealer copies its sealed count here just before it moves the
 * watermark, so the lag views order chains by pending rows from one index;
 * migration 0055).
 */
export const auditChainDiscovery = pgTable(
  'audit_chain_discovery',
  {
    orgId: uuid('org_id'),
    /** Highest chain_seq discovery has seen in this chain. */
    seenSeq: bigint('seen_seq', { mode: 'number' }).notNull().default(0),
    /** Rows discovery has counted in this chain. */
    seenCount: bigint('seen_count', { mode: 'number' }).notNull().default(0),
    firstSeenAt: timestamp('first_seen_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    /** audit_chain_state.sealed_count, copied by the sealer in the transaction that moves the watermark. */
    sealedCount: bigint('sealed_count', { mode: 'number' }).notNull().default(0),
    /** audit_chain_state.last_sealed_at, copied with it. */
    lastSealedAt: timestamp('last_sealed_at', { withTimezone: true }),
  },
  (t) => [unique('audit_chain_discovery_org_unique').on(t.orgId).nullsNotDistinct()],
);

/**
 * Progress of the stages that run for all chains at once: the safe horizon and
 * the discovery scan. A single row (id = 1).
 */
export const auditChainProgress = pgTable(
  'audit_chain_progress',
  {
    id: smallint('id').primaryKey().default(1),
    /** Every chain_seq at or below this is final: committed and visible, or rolled back for good. */
    horizonSeq: bigint('horizon_seq', { mode: 'number' }).notNull().default(0),
    horizonAt: timestamp('horizon_at', { withTimezone: true }),
    /** Rows up to here have been counted into audit_chain_state by discovery. */
    discoveredSeq: bigint('discovered_seq', { mode: 'number' }).notNull().default(0),
    discoveredAt: timestamp('discovered_at', { withTimezone: true }),
  },
  (t) => [check('audit_chain_progress_single_row', sql`${t.id} = 1`)],
);

/**
 * One row per running sealing worker process: a heartbeat and running totals,
 * so the lag views can show throughput, errors and seal latency without
 * reaching into the workers.
 */
export const auditChainWorkers = pgTable('audit_chain_workers', {
  workerId: text('worker_id').primaryKey(),
  hostname: text('hostname').notNull(),
  pid: integer('pid').notNull(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  heartbeatAt: timestamp('heartbeat_at', { withTimezone: true }).notNull().defaultNow(),
  stoppedAt: timestamp('stopped_at', { withTimezone: true }),
  sealedRows: bigint('sealed_rows', { mode: 'number' }).notNull().default(0),
  sealedBatches: bigint('sealed_batches', { mode: 'number' }).notNull().default(0),
  errors: bigint('errors', { mode: 'number' }).notNull().default(0),
  lastError: text('last_error'),
  lastErrorAt: timestamp('last_error_at', { withTimezone: true }),
  /** Cumulative histogram of commit-to-sealed latency: { "le": [bounds ms], "counts": [...], "sum_ms": n, "count": n }. */
  sealLatency: jsonb('seal_latency'),
  horizonSeq: bigint('horizon_seq', { mode: 'number' }),
});

/**
 * A convenience record of the signed checkpoints the worker exported. The
 * exported copies (outside the database) are the evidence; verification trusts a
 * checkpoint only through its signature, never because it is in this table.
 */
export const auditChainCheckpoints = pgTable(
  'audit_chain_checkpoints',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    orgId: uuid('org_id'),
    chainSeq: bigint('chain_seq', { mode: 'number' }).notNull(),
    sealedCount: bigint('sealed_count', { mode: 'number' }).notNull(),
    checksum: text('checksum').notNull(),
    signedAt: timestamp('signed_at', { withTimezone: true, precision: 6 }).notNull(),
    keyId: text('key_id').notNull(),
    signature: text('signature').notNull(),
    /** The exact signed JSON line as exported. */
    body: jsonb('body').notNull(),
    /** Sinks the checkpoint reached, e.g. {"directory": "2026-11-23T...", "webhook": null}. */
    exportedTo: jsonb('exported_to'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('audit_chain_checkpoints_org_seq_idx').on(t.orgId, t.chainSeq),
    // Checkpoints some sink has not taken yet (a null in exported_to): the signer retries
    // them every round without scanning every checkpoint ever signed.
    index('audit_chain_checkpoints_export_pending_idx')
      .on(t.id)
      .where(sql`${t.exportedTo} @? '$.* ? (@ == null)'`),
  ],
);

/** One verification run (scheduled or from the command line). */
export const auditChainVerifications = pgTable('audit_chain_verifications', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  trigger: text('trigger').notNull(),
  /** NULL: every chain; otherwise the one chain verified ('system' for the NULL org). */
  scope: text('scope'),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
  /** running | clean | breaks | failed */
  status: text('status').notNull().default('running'),
  chainsChecked: integer('chains_checked').notNull().default(0),
  rowsChecked: bigint('rows_checked', { mode: 'number' }).notNull().default(0),
  breaksFound: integer('breaks_found').notNull().default(0),
  /** The first breaks found (bounded), each { kind, org_id, chain_seq, row_id, expected, found, message }. */
  breaks: jsonb('breaks'),
  error: text('error'),
});

/** The latest verification result per chain, for the lag views. */
export const auditChainVerifyStatus = pgTable(
  'audit_chain_verify_status',
  {
    orgId: uuid('org_id'),
    verificationId: bigint('verification_id', { mode: 'number' }).notNull(),
    verifiedAt: timestamp('verified_at', { withTimezone: true }).notNull().defaultNow(),
    rowsChecked: bigint('rows_checked', { mode: 'number' }).notNull(),
    breaksFound: integer('breaks_found').notNull(),
    firstBreak: jsonb('first_break'),
  },
  (t) => [unique('audit_chain_verify_status_org_unique').on(t.orgId).nullsNotDistinct()],
);

/**
 * One row per retention cut: the rows of one chain up to and including cut_seq
 * are deleted, after a signed checkpoint naming the row at cut_seq was recorded
 * and exported (docs/operations-lifecycle.md). A DELETE on audit_logs passes the
 * append-only triggers only for rows covered by the cuts its transaction names;
 * only the retention functions (SECURITY DEFINER) insert here.
 */
export const auditChainRetentionCuts = pgTable(
  'audit_chain_retention_cuts',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    orgId: uuid('org_id'),
    /** chain_seq of the last row deleted: the checkpoint's chain_seq. */
    cutSeq: bigint('cut_seq', { mode: 'number' }).notNull(),
    /** audit_chain_checkpoints.id of the signed checkpoint at the cut. */
    checkpointId: bigint('checkpoint_id', { mode: 'number' }).notNull(),
    checksum: text('checksum').notNull(),
    /** Rows of the chain up to the cut, counted from its genesis (the checkpoint's sealed_count). */
    sealedCount: bigint('sealed_count', { mode: 'number' }).notNull(),
    /** Every row deleted by this cut has recorded_at before this. */
    olderThan: timestamp('older_than', { withTimezone: true, precision: 6 }).notNull(),
    deletedRows: bigint('deleted_rows', { mode: 'number' }).notNull().default(0),
    /** Partitions dropped whole by the transaction that made this cut. */
    droppedPartitions: text('dropped_partitions').array(),
    /** key_id of the checkpoint at the cut, whose signature the retention command verified against its keyring (null: cut before 0037). */
    keyId: text('key_id'),
    cutBy: text('cut_by').notNull().default(sql`session_user`),
    cutAt: timestamp('cut_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('audit_chain_retention_cuts_org_seq_idx').on(t.orgId, t.cutSeq)],
);

/**
 * The redaction marker: one row per audit row whose personal fields
 * (actor_email, ip_address, user_agent) and pii_salt were erased by
 * audit_chain_redact(). Verification reads a row as redacted exactly when it has
 * a row here; only audit_chain_redact() (SECURITY DEFINER) inserts here.
 */
export const auditChainRedactions = pgTable('audit_chain_redactions', {
  chainSeq: bigint('chain_seq', { mode: 'number' }).primaryKey(),
  rowId: uuid('row_id').notNull(),
  orgId: uuid('org_id'),
  /** The personal fields that held a value and were erased. */
  fields: text('fields').array().notNull(),
  reason: text('reason'),
  /** The login role (session_user) that asked for it. */
  redactedBy: text('redacted_by').notNull(),
  redactedAt: timestamp('redacted_at', { withTimezone: true }).notNull().defaultNow(),
  /** The redacting transaction: the append-only trigger lets the erasure through only in it. */
  xactId: bigint('xact_id', { mode: 'number' }).notNull(),
  /** The audit row (in the same chain) that records this redaction. */
  auditRowId: uuid('audit_row_id').notNull(),
});

/** One row per adopted legacy audit table: the adoption's plan and how far it got, so it resumes. */
export const auditChainAdoptions = pgTable('audit_chain_adoptions', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  /** The legacy table as named when adoption started (schema-qualified). */
  sourceTable: text('source_table').notNull().unique('audit_chain_adoptions_source_unique'),
  /** Where the legacy table (with its old checksums) is kept after the switch. */
  archiveTable: text('archive_table'),
  /** { columns: { audit_logs column: legacy column or literal }, order: [...], legacy checksum columns, id column }. */
  plan: jsonb('plan').notNull(),
  /** copying | switched | done */
  status: text('status').notNull().default('copying'),
  /** Definitions of the legacy triggers adoption dropped, for the record. */
  droppedTriggers: jsonb('dropped_triggers'),
  /** Rows in the legacy table when adoption started (before live inserts were captured). */
  historicalRows: bigint('historical_rows', { mode: 'number' }),
  /** Keyset position of the historical copy: the last (timestamp, id) copied. */
  cursorAt: timestamp('cursor_at', { withTimezone: true, precision: 6 }),
  cursorId: text('cursor_id'),
  /** Last audit_chain_adoption_queue.seq copied. */
  queueCursor: bigint('queue_cursor', { mode: 'number' }).notNull().default(0),
  copiedRows: bigint('copied_rows', { mode: 'number' }).notNull().default(0),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  switchedAt: timestamp('switched_at', { withTimezone: true }),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Ids of rows written to a legacy table while it is being adopted, in insert order. */
export const auditChainAdoptionQueue = pgTable(
  'audit_chain_adoption_queue',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    adoptionId: bigint('adoption_id', { mode: 'number' }).notNull(),
    legacyId: text('legacy_id').notNull(),
  },
  (t) => [unique('audit_chain_adoption_queue_legacy_unique').on(t.adoptionId, t.legacyId)],
);

/** The old insert-time checksums of adopted rows, kept for the record beside the row they became. */
export const auditChainLegacyLinks = pgTable(
  'audit_chain_legacy_links',
  {
    chainSeq: bigint('chain_seq', { mode: 'number' }).primaryKey(),
    rowId: uuid('row_id').notNull(),
    orgId: uuid('org_id'),
    adoptionId: bigint('adoption_id', { mode: 'number' }).notNull(),
    /** The legacy primary key, as text. */
    legacyId: text('legacy_id').notNull(),
    legacyPrevChecksum: text('legacy_prev_checksum'),
    legacyChecksum: text('legacy_checksum'),
  },
  (t) => [unique('audit_chain_legacy_links_legacy_unique').on(t.adoptionId, t.legacyId)],
);

/**
 * The no-fork guarantee on a partitioned audit_logs, where a unique index must
 * include the partition key: every predecessor a sealed row links to is claimed
 * here once per chain, by a trigger on the partitioned table's UPDATE
 * (audit_chain_partition_* functions).
 */
export const auditChainLinkClaims = pgTable(
  'audit_chain_link_claims',
  {
    orgId: uuid('org_id'),
    prevChecksum: text('prev_checksum').notNull(),
    chainSeq: bigint('chain_seq', { mode: 'number' }).notNull(),
  },
  (t) => [
    unique('audit_chain_link_claims_unique').on(t.orgId, t.prevChecksum).nullsNotDistinct(),
    index('audit_chain_link_claims_seq_idx').on(t.chainSeq),
  ],
);
