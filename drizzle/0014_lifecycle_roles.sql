-- Protects: least privilege for the lifecycle operations. Two more roles
-- (NOLOGIN; grant them to the login roles of the operators or jobs that need them):
--   retention: deletes old rows, and only as a checkpointed prefix of a chain,
--              through audit_chain_retain_prefix() / audit_chain_retain_partitions();
--              records the checkpoints it has signed (audit_chain_checkpoints);
--   redactor:  erases the personal fields of sealed rows, only through audit_chain_redact().
-- Neither may write audit_logs directly: their functions are SECURITY DEFINER and
-- check every invariant themselves. Names come from the settings
-- audit_chain.{retention,redactor}_role when this migration runs (e.g.
-- PGOPTIONS='-c audit_chain.retention_role=...'), else audit_chain_retention and
-- audit_chain_redactor, and are recorded in audit_chain_roles like the others.
-- Replaces: the kind check of audit_chain_roles (0003_roles), which knew writer,
-- sealer and admin only.
ALTER TABLE "audit_chain_roles" DROP CONSTRAINT "audit_chain_roles_kind_check";
--> statement-breakpoint
ALTER TABLE "audit_chain_roles" ADD CONSTRAINT "audit_chain_roles_kind_check"
  CHECK ("kind" IN ('writer', 'sealer', 'admin', 'retention', 'redactor'));
--> statement-breakpoint
INSERT INTO "audit_chain_roles" ("kind", "role_name") VALUES
  ('retention', coalesce(nullif(current_setting('audit_chain.retention_role', true), ''), 'audit_chain_retention')),
  ('redactor', coalesce(nullif(current_setting('audit_chain.redactor_role', true), ''), 'audit_chain_redactor'))
ON CONFLICT ("kind") DO NOTHING;
--> statement-breakpoint
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT "role_name" FROM "audit_chain_roles" WHERE "kind" IN ('retention', 'redactor') LOOP
    BEGIN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r.role_name);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END LOOP;
END
$$;
--> statement-breakpoint
DO $$
DECLARE
  retention name := audit_chain_role('retention');
  redactor name := audit_chain_role('redactor');
BEGIN
  EXECUTE format('GRANT SELECT ON audit_logs, audit_chain_state, audit_chain_roles, audit_chain_retention_cuts, audit_chain_legacy_links TO %I', retention);
  -- The retention command records the checkpoint it signs at a cut, and marks it exported, like the worker does.
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON audit_chain_checkpoints TO %I', retention);
  EXECUTE format('GRANT SELECT ON audit_logs, audit_chain_state, audit_chain_roles, audit_chain_redactions TO %I', redactor);
  -- Verification reads the redaction marker with the rows.
  EXECUTE format('GRANT SELECT ON audit_chain_redactions, audit_chain_retention_cuts, audit_chain_legacy_links TO %I, %I',
    audit_chain_role('sealer'), audit_chain_role('admin'));
  EXECUTE format('GRANT SELECT ON audit_chain_adoptions TO %I', audit_chain_role('admin'));
END
$$;
