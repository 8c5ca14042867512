-- Protects: which tables are chained and what each chain commits to. A chained
-- table is a table (any schema), its chain key column (or none: one chain for
-- the table), the order its existing rows were chained in, the names of the
-- columns the chain added to it (never the product's own names), and its
-- covered columns (ordered, with their types and whether they are personal,
-- i.e. committed through the salted digest) and excluded columns. The covered
-- column set is data with a history: every confirmed set is one revision in
-- audit_chain_table_columns, effective from a chain_seq on, so rows sealed
-- under an earlier set keep verifying under it.
-- Our own audit_logs is simply the first chained table (format v1).
-- Nothing is recorded before `attach` starts changing the table (a dry run, or
-- a plan refused by its checks, writes nothing), so until then the plan may be
-- changed or dropped freely. status: 'attaching' (started: resumable with the
-- recorded plan, no longer changeable),
-- 'attached' (the sealer seals it), 'drifted' (the table's columns differ
-- from the confirmed set: sealing stops until `attach --refresh`).
-- Replaces: nothing.
CREATE TABLE "audit_chain_tables" (
  "id" integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  "schema_name" name NOT NULL,
  "table_name" name NOT NULL,
  "chain_key_column" name,
  "order_by" name[] NOT NULL,
  "seq_column" name NOT NULL,
  "prev_column" name NOT NULL,
  "checksum_column" name NOT NULL,
  "version_column" name NOT NULL,
  "pii_digest_column" name,
  "pii_salt_column" name,
  "excluded_columns" name[] NOT NULL DEFAULT '{}',
  "format_version" smallint NOT NULL,
  "status" text NOT NULL CHECK ("status" IN ('attaching', 'attached', 'drifted')),
  "step" text,
  "plan" jsonb NOT NULL DEFAULT '{}'::jsonb,
  "dropped_triggers" jsonb NOT NULL DEFAULT '[]'::jsonb,
  "drift" text,
  "created_at" timestamptz NOT NULL DEFAULT now(),
  "attached_at" timestamptz,
  UNIQUE ("schema_name", "table_name")
);
--> statement-breakpoint
CREATE TABLE "audit_chain_table_columns" (
  "table_id" integer NOT NULL REFERENCES "audit_chain_tables" ("id"),
  "revision" integer NOT NULL,
  "effective_from_seq" bigint NOT NULL,
  "covered" jsonb NOT NULL,
  "reason" text NOT NULL,
  "confirmed_at" timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY ("table_id", "revision")
);
--> statement-breakpoint
INSERT INTO "audit_chain_tables" ("schema_name", "table_name", "chain_key_column", "order_by", "seq_column", "prev_column",
  "checksum_column", "version_column", "pii_digest_column", "pii_salt_column", "format_version", "status", "attached_at")
VALUES (current_schema(), 'audit_logs', 'org_id', '{chain_seq}', 'chain_seq', 'prev_checksum', 'checksum', 'checksum_version',
  'pii_digest', 'pii_salt', 1, 'attached', now());
--> statement-breakpoint
INSERT INTO "audit_chain_table_columns" ("table_id", "revision", "effective_from_seq", "covered", "reason")
SELECT t."id", 1, 0, '[
  {"name": "id", "type": "uuid", "personal": false},
  {"name": "org_id", "type": "uuid", "personal": false},
  {"name": "chain_seq", "type": "bigint", "personal": false},
  {"name": "occurred_at", "type": "timestamp(6) with time zone", "personal": false},
  {"name": "recorded_at", "type": "timestamp(6) with time zone", "personal": false},
  {"name": "actor_type", "type": "text", "personal": false},
  {"name": "actor_id", "type": "text", "personal": false},
  {"name": "actor_email", "type": "text", "personal": true},
  {"name": "action", "type": "text", "personal": false},
  {"name": "resource_type", "type": "text", "personal": false},
  {"name": "resource_id", "type": "text", "personal": false},
  {"name": "resource_name", "type": "text", "personal": false},
  {"name": "details", "type": "jsonb", "personal": false},
  {"name": "ip_address", "type": "inet", "personal": true},
  {"name": "user_agent", "type": "text", "personal": true},
  {"name": "result", "type": "text", "personal": false},
  {"name": "error_message", "type": "text", "personal": false}
]'::jsonb, 'the default table, format v1 (docs/chain-format.md)'
FROM "audit_chain_tables" t WHERE t."table_name" = 'audit_logs' AND t."schema_name" = current_schema();
--> statement-breakpoint
DO $$
DECLARE
  sealer name := audit_chain_role('sealer');
  admin name := audit_chain_role('admin');
  writer name := audit_chain_role('writer');
BEGIN
  EXECUTE format('GRANT SELECT ON audit_chain_tables, audit_chain_table_columns TO %I, %I, %I', sealer, admin, writer);
  EXECUTE format('GRANT UPDATE ("status", "drift") ON audit_chain_tables TO %I', sealer);
END
$$;
