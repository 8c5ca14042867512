-- Protects: a checkpoint in audit_chain_checkpoints is what a holder of the
-- signing key recorded, and stays so. One more role (NOLOGIN, granted to the
-- login of the worker's checkpoint stage and of the retention job, which sign):
--   signer: the only role that may add checkpoints (INSERT) and mark them
--           exported (UPDATE of exported_to only).
-- The sealer and retention roles only read them now. For every role, the
-- table's owner included, checkpoints are append-only: a trigger refuses DELETE,
-- TRUNCATE and every UPDATE except exported_to moving forward (a sink added, a
-- sink's null set once; nothing recorded is ever changed or removed), with
-- AC020. So nobody short of a superuser (or the owner dropping the trigger) can
-- forge a checkpoint row, move a signed one to another row, or rewrite one; and
-- a superuser who does is still caught by verify, which trusts only signatures.
-- Also: recorded_at is always the server's. The writer role loses INSERT on
-- recorded_at (its DEFAULT now() is all a client gets).
-- The name comes from the setting audit_chain.signer_role when this migration
-- runs (AUDIT_CHAIN_SIGNER_ROLE, or PGOPTIONS='-c audit_chain.signer_role=...'),
-- else audit_chain_signer,
-- and is recorded in audit_chain_roles like the others.
-- Replaces: the kind check of audit_chain_roles (0014_lifecycle_roles); the
-- checkpoint grants to the sealer (0010) and retention (0014) roles; the
-- writer's INSERT on recorded_at (0003_roles).
ALTER TABLE "audit_chain_roles" DROP CONSTRAINT "audit_chain_roles_kind_check";
--> statement-breakpoint
ALTER TABLE "audit_chain_roles" ADD CONSTRAINT "audit_chain_roles_kind_check"
  CHECK ("kind" IN ('writer', 'sealer', 'admin', 'retention', 'redactor', 'signer'));
--> statement-breakpoint
INSERT INTO "audit_chain_roles" ("kind", "role_name") VALUES
  ('signer', coalesce(nullif(current_setting('audit_chain.signer_role', true), ''), 'audit_chain_signer'))
ON CONFLICT ("kind") DO NOTHING;
--> statement-breakpoint
DO $$
BEGIN
  EXECUTE format('CREATE ROLE %I NOLOGIN', audit_chain_role('signer'));
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;
--> statement-breakpoint
DO $$
DECLARE
  signer name := audit_chain_role('signer');
BEGIN
  EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_chain_checkpoints FROM %I, %I',
    audit_chain_role('sealer'), audit_chain_role('retention'));
  EXECUTE format('GRANT SELECT, INSERT ON audit_chain_checkpoints TO %I', signer);
  EXECUTE format('GRANT UPDATE (exported_to) ON audit_chain_checkpoints TO %I', signer);
  -- Signing compares each chain's head with its row and its last checkpoint.
  EXECUTE format('GRANT SELECT ON audit_logs, audit_chain_state, audit_chain_roles TO %I', signer);
  EXECUTE format('REVOKE INSERT (recorded_at) ON audit_logs FROM %I', audit_chain_role('writer'));
END
$$;
--> statement-breakpoint
CREATE FUNCTION "audit_chain_checkpoints_reject_change"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE'
     AND (NEW.id, NEW.org_id, NEW.chain_seq, NEW.sealed_count, NEW.checksum, NEW.signed_at,
          NEW.key_id, NEW.signature, NEW.body, NEW.created_at)
         IS NOT DISTINCT FROM
         (OLD.id, OLD.org_id, OLD.chain_seq, OLD.sealed_count, OLD.checksum, OLD.signed_at,
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
    RAISE EXCEPTION 'audit_chain_checkpoints is append-only: TRUNCATE is not allowed'
      USING ERRCODE = 'AC020', HINT = 'A recorded checkpoint is evidence: it is never changed or removed.';
  END IF;
  RAISE EXCEPTION 'audit_chain_checkpoints is append-only: % of checkpoint % is not allowed%', TG_OP, OLD.id,
      CASE WHEN TG_OP = 'UPDATE' THEN ' (only exported_to may move forward: a sink added, or its null set once)' ELSE '' END
    USING ERRCODE = 'AC020',
          HINT = 'A recorded checkpoint is evidence: it is never changed or removed.';
END
$$;
--> statement-breakpoint
CREATE TRIGGER "_100_audit_chain_checkpoints_append_only_update"
  BEFORE UPDATE ON "audit_chain_checkpoints"
  FOR EACH ROW EXECUTE FUNCTION "audit_chain_checkpoints_reject_change"();
--> statement-breakpoint
CREATE TRIGGER "_100_audit_chain_checkpoints_append_only_delete"
  BEFORE DELETE ON "audit_chain_checkpoints"
  FOR EACH ROW EXECUTE FUNCTION "audit_chain_checkpoints_reject_change"();
--> statement-breakpoint
CREATE TRIGGER "_100_audit_chain_checkpoints_append_only_truncate"
  BEFORE TRUNCATE ON "audit_chain_checkpoints"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_chain_checkpoints_reject_change"();
