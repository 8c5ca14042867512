// The insert-path variants the benchmark compares, as plain SQL. Every variant is
// a table in one scratch database that has been migrated with the project's own
// migrations, so `audit_logs` there is the real table (identity chain_seq, its
// indexes and append-only triggers), and every other table copies its columns
// with `LIKE audit_logs`: the content columns are identical by construction and
// only the chain mechanism (and the index it needs) differs.

export interface InsertVariant {
  id: string;
  /** The row label in the results table. */
  label: string;
  table: string;
  /** Run once in the migrated scratch database. */
  install: string;
  /** Run in one transaction before every measured run: empties the table and any chain state. */
  reset: string;
  /** Informative rows are measured and printed but no target refers to them. */
  informative: boolean;
  /** Measured only when named with --variants (keeps the default run inside its time budget). */
  optIn: boolean;
  /** What the variant's table carries besides the shared content columns, for the report. */
  notes: string;
}

/** Organizations the workloads draw from: org n is uuid 00000000-0000-0000-0000-00000000000n. */
export const ORGANIZATION_COUNT = 100;

export const GENESIS_CHECKSUM = '0'.repeat(64);

/** The content columns of audit_logs, with its defaults and CHECK constraints; no index, no identity. */
function copyOfAuditLogs(table: string): string {
  return `
CREATE TABLE ${table} (LIKE audit_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
-- LIKE keeps the identity column's NOT NULL but not its identity.
ALTER TABLE ${table} ALTER COLUMN chain_seq DROP NOT NULL;
ALTER TABLE ${table} ADD PRIMARY KEY (id);`;
}

/** The product's own listing index, which every variant but the project's carries. */
function listingIndex(table: string): string {
  return `CREATE INDEX ${table}_org_occurred_at_idx ON ${table} (org_id, occurred_at);`;
}

/** One row per organization of the workloads, for the variants that keep per-organization state. */
function organizationRows(table: string, columns: string, values: string): string {
  return `INSERT INTO ${table} (org_id, ${columns})
SELECT ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid, ${values}
FROM generate_series(1, ${ORGANIZATION_COUNT}) AS n;`;
}

const plain: InsertVariant = {
  id: 'plain',
  label: 'plain insert, no chain',
  table: 'bench_plain',
  install: `${copyOfAuditLogs('bench_plain')}\n${listingIndex('bench_plain')}`,
  reset: 'TRUNCATE bench_plain;',
  informative: false,
  optIn: false,
  notes: 'PK (id) and the listing index (org_id, occurred_at); chain columns left NULL; no trigger.',
};

const auditChain: InsertVariant = {
  id: 'audit-chain',
  label: 'audit-chain (this project): identity chain_seq, sealed later',
  table: 'audit_logs',
  install: '',
  // The append-only TRUNCATE trigger stays enabled for the measured run; only this
  // reset skips it, by running as a replica would.
  reset: `SET LOCAL session_replication_role = replica;
TRUNCATE audit_logs RESTART IDENTITY;`,
  informative: false,
  optIn: false,
  notes:
    'The migrated table: chain_seq GENERATED ALWAYS AS IDENTITY (CACHE 1), PK (id), B-tree (org_id, chain_seq) ' +
    'in place of the listing index, BRIN (chain_seq), the partial unique chain-link index; no INSERT trigger.',
};

const xidTrigger: InsertVariant = {
  id: 'xid-trigger',
  label: 'PL/pgSQL trigger taking xid + nextval (DESIGN\'s trigger)',
  table: 'bench_xid_trigger',
  install: `
CREATE TABLE bench_xid_trigger (LIKE audit_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE SEQUENCE bench_xid_trigger_chain_seq CACHE 1;
CREATE FUNCTION bench_xid_trigger_assign() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_current_xact_id();
  NEW.chain_seq := nextval('bench_xid_trigger_chain_seq');
  RETURN NEW;
END
$$;
CREATE TRIGGER _100_bench_xid_trigger_assign BEFORE INSERT ON bench_xid_trigger
  FOR EACH ROW EXECUTE FUNCTION bench_xid_trigger_assign();`,
  reset: `TRUNCATE bench_xid_trigger;
ALTER SEQUENCE bench_xid_trigger_chain_seq RESTART;`,
  informative: true,
  optIn: false,
  notes:
    'Same indexes as audit_logs (copied with LIKE ... INCLUDING INDEXES), but chain_seq comes from a BEFORE INSERT ' +
    'PL/pgSQL trigger that assigns the xid and then calls nextval: isolates identity column vs trigger.',
};

// The lock-based variants read the organization's previous checksum from a head
// row (a primary-key lookup on a 100-row table) rather than with an index scan on
// the growing audit table: the cheaper form of the predecessor read, and fork-free
// because it is read and written under the organization's lock.
const advisoryLock: InsertVariant = {
  id: 'advisory-lock',
  label: 'trigger with per-org advisory lock, predecessor read and sha256',
  table: 'bench_advisory_lock',
  install: `${copyOfAuditLogs('bench_advisory_lock')}
${listingIndex('bench_advisory_lock')}
CREATE TABLE bench_advisory_lock_heads (org_id uuid PRIMARY KEY, checksum text NOT NULL);
CREATE FUNCTION bench_advisory_lock_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  previous text;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext(NEW.org_id::text));
  SELECT checksum INTO previous FROM bench_advisory_lock_heads WHERE org_id = NEW.org_id;
  IF NOT FOUND THEN
    previous := '${GENESIS_CHECKSUM}';
    INSERT INTO bench_advisory_lock_heads (org_id, checksum) VALUES (NEW.org_id, previous);
  END IF;
  NEW.prev_checksum := previous;
  NEW.checksum := encode(sha256(convert_to(previous || row_to_json(NEW)::text, 'UTF8')), 'hex');
  NEW.checksum_version := 1;
  UPDATE bench_advisory_lock_heads SET checksum = NEW.checksum WHERE org_id = NEW.org_id;
  RETURN NEW;
END
$$;
CREATE TRIGGER _100_bench_advisory_lock_link BEFORE INSERT ON bench_advisory_lock
  FOR EACH ROW EXECUTE FUNCTION bench_advisory_lock_link();`,
  reset: `TRUNCATE bench_advisory_lock, bench_advisory_lock_heads;
${organizationRows('bench_advisory_lock_heads', 'checksum', `'${GENESIS_CHECKSUM}'`)}`,
  informative: false,
  optIn: false,
  notes:
    'PK (id) and the listing index; a BEFORE INSERT trigger takes pg_advisory_xact_lock(hashtext(org_id)), reads the ' +
    'org\'s head checksum, hashes row + predecessor with sha256 and moves the head. The lock is held until commit.',
};

const commitSeal: InsertVariant = {
  id: 'commit-seal',
  label: 'content hash at insert, chain sealed at commit (deferred trigger, advisory lock)',
  table: 'bench_commit_seal',
  install: `${copyOfAuditLogs('bench_commit_seal')}
${listingIndex('bench_commit_seal')}
ALTER TABLE bench_commit_seal ADD COLUMN content_checksum text;
CREATE TABLE bench_commit_seal_heads (org_id uuid PRIMARY KEY, checksum text NOT NULL);
CREATE FUNCTION bench_commit_seal_hash() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.content_checksum := encode(sha256(convert_to(row_to_json(NEW)::text, 'UTF8')), 'hex');
  RETURN NEW;
END
$$;
CREATE TRIGGER _100_bench_commit_seal_hash BEFORE INSERT ON bench_commit_seal
  FOR EACH ROW EXECUTE FUNCTION bench_commit_seal_hash();
CREATE FUNCTION bench_commit_seal_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  previous text;
  linked text;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext(NEW.org_id::text));
  SELECT checksum INTO previous FROM bench_commit_seal_heads WHERE org_id = NEW.org_id;
  IF NOT FOUND THEN
    previous := '${GENESIS_CHECKSUM}';
    INSERT INTO bench_commit_seal_heads (org_id, checksum) VALUES (NEW.org_id, previous);
  END IF;
  linked := encode(sha256(convert_to(previous || NEW.content_checksum, 'UTF8')), 'hex');
  UPDATE bench_commit_seal SET prev_checksum = previous, checksum = linked, checksum_version = 1 WHERE id = NEW.id;
  UPDATE bench_commit_seal_heads SET checksum = linked WHERE org_id = NEW.org_id;
  RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER _900_bench_commit_seal_link AFTER INSERT ON bench_commit_seal
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION bench_commit_seal_link();`,
  reset: `TRUNCATE bench_commit_seal, bench_commit_seal_heads;
${organizationRows('bench_commit_seal_heads', 'checksum', `'${GENESIS_CHECKSUM}'`)}`,
  informative: false,
  optIn: false,
  notes:
    'PK (id) and the listing index; a BEFORE INSERT trigger stores a sha256 content hash, and a DEFERRABLE INITIALLY ' +
    'DEFERRED constraint trigger links the row at commit under pg_advisory_xact_lock(hashtext(org_id)) (an UPDATE of ' +
    'the row and of the org\'s head). The lock is held from the deferred trigger through the commit.',
};

const counterRow: InsertVariant = {
  id: 'counter-row',
  label: 'trigger taking chain_seq from a per-org counter row',
  table: 'bench_counter_row',
  install: `${copyOfAuditLogs('bench_counter_row')}
${listingIndex('bench_counter_row')}
CREATE TABLE bench_counter_row_counters (org_id uuid PRIMARY KEY, seq bigint NOT NULL);
CREATE FUNCTION bench_counter_row_assign() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE bench_counter_row_counters SET seq = seq + 1 WHERE org_id = NEW.org_id RETURNING seq INTO NEW.chain_seq;
  IF NOT FOUND THEN
    INSERT INTO bench_counter_row_counters (org_id, seq) VALUES (NEW.org_id, 1)
    ON CONFLICT (org_id) DO UPDATE SET seq = bench_counter_row_counters.seq + 1
    RETURNING seq INTO NEW.chain_seq;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER _100_bench_counter_row_assign BEFORE INSERT ON bench_counter_row
  FOR EACH ROW EXECUTE FUNCTION bench_counter_row_assign();`,
  reset: `TRUNCATE bench_counter_row, bench_counter_row_counters;
${organizationRows('bench_counter_row_counters', 'seq', '0')}`,
  informative: false,
  optIn: false,
  notes:
    'PK (id) and the listing index; a BEFORE INSERT trigger runs UPDATE ... SET seq = seq + 1 RETURNING seq on the ' +
    'org\'s counter row, whose row lock is held until commit. No hashing (a worker would seal later).',
};

// Two informative layouts of the project's own table, for the index budget
// (DESIGN, "Insert cost is the budget"), measured on request (--variants): on
// this machine their differences from audit_logs stayed inside the noise. LIKE copies the identity (with its own
// CACHE 1 sequence) but no trigger; audit_logs has no INSERT trigger to copy.
const auditChainWithListing: InsertVariant = {
  id: 'audit-chain-listing',
  label: 'audit-chain, keeping the product\'s listing index as well',
  table: 'bench_audit_chain_listing',
  install: `CREATE TABLE bench_audit_chain_listing (LIKE audit_logs INCLUDING ALL);
${listingIndex('bench_audit_chain_listing')}`,
  reset: 'TRUNCATE bench_audit_chain_listing RESTART IDENTITY;',
  informative: true,
  optIn: true,
  notes:
    'audit_logs\' columns, identity and indexes, plus the listing index (org_id, occurred_at): what an adopter pays ' +
    'who keeps the listing index next to (org_id, chain_seq).',
};

const auditChainBrinOnly: InsertVariant = {
  id: 'audit-chain-brin',
  label: 'audit-chain without the (org_id, chain_seq) B-tree: listing index + BRIN',
  table: 'bench_audit_chain_brin',
  install: `CREATE TABLE bench_audit_chain_brin (LIKE audit_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY);
ALTER TABLE bench_audit_chain_brin ADD PRIMARY KEY (id);
${listingIndex('bench_audit_chain_brin')}
CREATE INDEX bench_audit_chain_brin_chain_seq_brin ON bench_audit_chain_brin USING brin (chain_seq);
CREATE UNIQUE INDEX bench_audit_chain_brin_chain_link_unique ON bench_audit_chain_brin (org_id, prev_checksum)
  NULLS NOT DISTINCT WHERE prev_checksum IS NOT NULL;`,
  reset: 'TRUNCATE bench_audit_chain_brin RESTART IDENTITY;',
  informative: true,
  optIn: true,
  notes:
    'The identity column, the BRIN and the chain-link index of audit_logs, but the product\'s listing index instead ' +
    'of (org_id, chain_seq): the sealer would find pending rows by a chain_seq range scan (DESIGN), at the price of ' +
    'per-org reads in chain order.',
};

// The decomposition of audit_logs' insert cost (issue 14): copies of its layout
// that each leave out exactly one of the things the plain table does not have,
// so a paired run against `audit-chain-copy` prices that one thing. The copy
// itself carries audit_logs' identity, indexes and CHECKs but none of its
// triggers (no trigger fires on INSERT, but they are catalogue entries too), so
// audit_logs against the copy prices the triggers. The swap of the listing index
// for (org_id, chain_seq) is `audit-chain-brin` above.
interface AuditLogsLayout {
  /** chain_seq GENERATED ALWAYS AS IDENTITY (CACHE 1); else DEFAULT nextval of an own CACHE 1 sequence. */
  identity: boolean;
  brin: boolean;
  linkIndex: boolean;
}

const FULL_LAYOUT: AuditLogsLayout = { identity: true, brin: true, linkIndex: true };

export function auditLogsLayoutCopy(table: string, layout: AuditLogsLayout): string {
  const statements = [
    `CREATE TABLE ${table} (LIKE audit_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS${layout.identity ? ' INCLUDING IDENTITY' : ''});`,
    `ALTER TABLE ${table} ADD PRIMARY KEY (id);`,
    `CREATE INDEX ${table}_org_chain_seq_idx ON ${table} (org_id, chain_seq);`,
  ];
  if (!layout.identity) {
    statements.push(
      `CREATE SEQUENCE ${table}_chain_seq AS bigint CACHE 1 OWNED BY ${table}.chain_seq;`,
      `ALTER TABLE ${table} ALTER COLUMN chain_seq SET DEFAULT nextval('${table}_chain_seq');`,
    );
  }
  if (layout.brin) statements.push(`CREATE INDEX ${table}_chain_seq_brin ON ${table} USING brin (chain_seq);`);
  if (layout.linkIndex) {
    statements.push(
      `CREATE UNIQUE INDEX ${table}_chain_link_unique ON ${table} (org_id, prev_checksum) NULLS NOT DISTINCT WHERE prev_checksum IS NOT NULL;`,
    );
  }
  return statements.join('\n');
}

function layoutVariant(id: string, table: string, label: string, layout: AuditLogsLayout, notes: string): InsertVariant {
  return {
    id,
    label,
    table,
    install: auditLogsLayoutCopy(table, layout),
    reset: layout.identity ? `TRUNCATE ${table} RESTART IDENTITY;` : `TRUNCATE ${table};\nALTER SEQUENCE ${table}_chain_seq RESTART;`,
    informative: true,
    optIn: true,
    notes,
  };
}

const auditChainCopy = layoutVariant(
  'audit-chain-copy',
  'bench_audit_chain_copy',
  'audit_logs\' layout without its triggers',
  FULL_LAYOUT,
  'audit_logs\' columns, CHECKs, identity chain_seq and four indexes, but none of its (UPDATE/DELETE/TRUNCATE) triggers: ' +
    'the base of the decomposition; audit_logs against it prices the triggers.',
);

const auditChainSequenceDefault = layoutVariant(
  'audit-chain-sequence-default',
  'bench_audit_chain_sequence_default',
  'audit_logs\' layout, chain_seq DEFAULT nextval instead of identity',
  { ...FULL_LAYOUT, identity: false },
  'As audit-chain-copy, but chain_seq is a plain column DEFAULT nextval(CACHE 1 sequence): prices the identity column. ' +
    'Not a layout the project can use: the writer would need USAGE on the sequence (so could move it), and a ' +
    'privileged INSERT could supply chain_seq without OVERRIDING SYSTEM VALUE.',
);

const auditChainNoBrin = layoutVariant(
  'audit-chain-no-brin',
  'bench_audit_chain_no_brin',
  'audit_logs\' layout without the BRIN (chain_seq)',
  { ...FULL_LAYOUT, brin: false },
  'As audit-chain-copy without the BRIN on chain_seq: prices the BRIN (which the lag views read above the discovered position).',
);

const auditChainNoLinkIndex = layoutVariant(
  'audit-chain-no-link-index',
  'bench_audit_chain_no_link_index',
  'audit_logs\' layout without the partial chain-link unique index',
  { ...FULL_LAYOUT, linkIndex: false },
  'As audit-chain-copy without the partial unique (org_id, prev_checksum) index that pending rows skip: prices opening ' +
    'it and testing its predicate per statement (the index is the no-fork guarantee; this layout is not usable).',
);

/** The decomposition variants, in the order the report lists them. */
export const DECOMPOSITION_VARIANT_IDS = [
  'audit-chain-copy',
  'audit-chain-sequence-default',
  'audit-chain-no-brin',
  'audit-chain-no-link-index',
  'audit-chain-brin',
] as const;

/** In report order; the runs are interleaved in a rotating order. */
export const INSERT_VARIANTS: readonly InsertVariant[] = [
  plain,
  auditChain,
  advisoryLock,
  commitSeal,
  counterRow,
  xidTrigger,
  auditChainWithListing,
  auditChainBrinOnly,
  auditChainCopy,
  auditChainSequenceDefault,
  auditChainNoBrin,
  auditChainNoLinkIndex,
];

export function findVariant(id: string): InsertVariant {
  const variant = INSERT_VARIANTS.find((candidate) => candidate.id === id);
  if (!variant) throw new Error(`unknown insert variant ${id}: want one of ${INSERT_VARIANTS.map((v) => v.id).join(', ')}`);
  return variant;
}
