-- Protects: the chains of attached tables, as 0009/0035 protect audit_logs'.
-- A signed checkpoint of an attached table's chain (format: docs/chain-format.md
-- section 7, version 2: schema, table and chain key are signed) is recorded in
-- audit_chain_table_checkpoints before it is exported, like audit_logs'
-- checkpoints are in audit_chain_checkpoints (which keeps its org_id uuid and
-- every query of it unchanged). The record schedules signing and export
-- retries; verification trusts a row of it only through its signature.
-- Least privilege, as 0035: only the signer role may add checkpoints (INSERT)
-- and mark them exported (UPDATE of exported_to only); the sealer and admin
-- roles read them. For every role, the owner included, the table is
-- append-only (a trigger refuses DELETE, TRUNCATE and every UPDATE except
-- exported_to moving forward, AC020).
-- The signer also reads the chains' state and the registry (to sign a head,
-- compare it with its last checkpoint), and, on each attached table, the
-- chain_seq, checksum and chain key columns (to check the row at the head
-- before signing it; `attach` grants that on tables attached later).
-- The signer role is 0035's.
-- Replaces: nothing.
CREATE TABLE "audit_chain_table_checkpoints" (
  "id" bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY,
  "table_id" integer NOT NULL REFERENCES "audit_chain_tables" ("id"),
  "chain_key" text,
  "chain_seq" bigint NOT NULL,
  "sealed_count" bigint NOT NULL,
  "checksum" text NOT NULL,
  "signed_at" timestamp (6) with time zone NOT NULL,
  "key_id" text NOT NULL,
  "signature" text NOT NULL,
  "body" jsonb NOT NULL,
  "exported_to" jsonb,
  "created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "audit_chain_table_checkpoints_chain_seq_idx" ON "audit_chain_table_checkpoints" ("table_id", "chain_key", "chain_seq");
--> statement-breakpoint
CREATE INDEX "audit_chain_table_checkpoints_export_pending_idx" ON "audit_chain_table_checkpoints" ("id")
  WHERE "exported_to" @? '$.* ? (@ == null)';
--> statement-breakpoint
DO $$
DECLARE
  signer name := audit_chain_role('signer');
  t record;
BEGIN
  EXECUTE format('GRANT SELECT ON audit_chain_table_checkpoints TO %I, %I', audit_chain_role('sealer'), audit_chain_role('admin'));
  EXECUTE format('GRANT SELECT, INSERT ON audit_chain_table_checkpoints TO %I', signer);
  EXECUTE format('GRANT UPDATE (exported_to) ON audit_chain_table_checkpoints TO %I', signer);
  EXECUTE format('GRANT SELECT ON audit_chain_tables, audit_chain_table_columns, audit_chain_table_state TO %I', signer);
  -- Tables attached before this migration: what `attach` now grants the signer.
  FOR t IN SELECT * FROM audit_chain_tables WHERE format_version >= 2 AND status IN ('attached', 'drifted') LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', t.schema_name, signer);
    EXECUTE format('GRANT SELECT (%s) ON %I.%I TO %I',
      concat_ws(', ', quote_ident(t.seq_column), quote_ident(t.checksum_column), quote_ident(t.chain_key_column)),
      t.schema_name, t.table_name, signer);
    IF (SELECT c.relrowsecurity FROM pg_class c WHERE c.oid = format('%I.%I', t.schema_name, t.table_name)::regclass) THEN
      EXECUTE format('DROP POLICY IF EXISTS audit_chain_signer_read ON %I.%I', t.schema_name, t.table_name);
      EXECUTE format('CREATE POLICY audit_chain_signer_read ON %I.%I FOR SELECT TO %I USING (true)', t.schema_name, t.table_name, signer);
    END IF;
  END LOOP;
END
$$;
--> statement-breakpoint
CREATE FUNCTION "audit_chain_table_checkpoints_reject_change"() RETURNS trigger
LANGUAGE plpgsql SET search_path = audit_chain, pg_temp AS $$
BEGIN
  IF TG_OP = 'UPDATE'
     AND (NEW.id, NEW.table_id, NEW.chain_key, NEW.chain_seq, NEW.sealed_count, NEW.checksum, NEW.signed_at,
          NEW.key_id, NEW.signature, NEW.body, NEW.created_at)
         IS NOT DISTINCT FROM
         (OLD.id, OLD.table_id, OLD.chain_key, OLD.chain_seq, OLD.sealed_count, OLD.checksum, OLD.signed_at,
          OLD.key_id, OLD.signature, OLD.body, OLD.created_at)
     AND (OLD.exported_to IS NULL OR jsonb_typeof(OLD.exported_to) = 'object')
     AND jsonb_typeof(NEW.exported_to) = 'object'
     AND NOT EXISTS (
           SELECT 1 FROM jsonb_each(coalesce(OLD.exported_to, '{}'::jsonb)) o
            WHERE NOT (NEW.exported_to ? o.key)
               OR (o.value <> 'null'::jsonb AND NEW.exported_to -> o.key IS DISTINCT FROM o.value)) THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION 'audit_chain_table_checkpoints is append-only: TRUNCATE is not allowed'
      USING ERRCODE = 'AC020', HINT = 'A recorded checkpoint is evidence: it is never changed or removed.';
  END IF;
  RAISE EXCEPTION 'audit_chain_table_checkpoints is append-only: % of checkpoint % is not allowed%', TG_OP, OLD.id,
      CASE WHEN TG_OP = 'UPDATE' THEN ' (only exported_to may move forward: a sink added, or its null set once)' ELSE '' END
    USING ERRCODE = 'AC020',
          HINT = 'A recorded checkpoint is evidence: it is never changed or removed.';
END
$$;
--> statement-breakpoint
CREATE TRIGGER "_100_audit_chain_table_checkpoints_append_only_update"
  BEFORE UPDATE ON "audit_chain_table_checkpoints"
  FOR EACH ROW EXECUTE FUNCTION "audit_chain_table_checkpoints_reject_change"();
--> statement-breakpoint
CREATE TRIGGER "_100_audit_chain_table_checkpoints_append_only_delete"
  BEFORE DELETE ON "audit_chain_table_checkpoints"
  FOR EACH ROW EXECUTE FUNCTION "audit_chain_table_checkpoints_reject_change"();
--> statement-breakpoint
CREATE TRIGGER "_100_audit_chain_table_checkpoints_append_only_truncate"
  BEFORE TRUNCATE ON "audit_chain_table_checkpoints"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_chain_table_checkpoints_reject_change"();
