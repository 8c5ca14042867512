-- Protects: least privilege around the chain. Three roles (NOLOGIN; grant them to
-- login roles):
--   writer: INSERT (content columns only: never chain_seq nor a chain column) and SELECT;
--   sealer: SELECT, UPDATE of the chain columns only, and the chain bookkeeping tables;
--   admin:  read-only.
-- Names come from the settings audit_chain.{writer,sealer,admin}_role that
-- `audit-chain migrate` sets from AUDIT_CHAIN_{WRITER,SEALER,ADMIN}_ROLE, and are
-- recorded in audit_chain_roles so later migrations grant to the same roles.
-- Roles are cluster-wide: creating one that already exists (another database,
-- or a concurrent migration) is not an error.
-- Replaces: nothing.
CREATE TABLE "audit_chain_roles" (
  "kind" text PRIMARY KEY CHECK ("kind" IN ('writer', 'sealer', 'admin')),
  "role_name" name NOT NULL
);
--> statement-breakpoint
INSERT INTO "audit_chain_roles" ("kind", "role_name") VALUES
  ('writer', coalesce(nullif(current_setting('audit_chain.writer_role', true), ''), 'audit_chain_writer')),
  ('sealer', coalesce(nullif(current_setting('audit_chain.sealer_role', true), ''), 'audit_chain_sealer')),
  ('admin', coalesce(nullif(current_setting('audit_chain.admin_role', true), ''), 'audit_chain_admin'));
--> statement-breakpoint
CREATE FUNCTION "audit_chain_role"(p_kind text) RETURNS name
LANGUAGE sql STABLE AS $$ SELECT "role_name" FROM "audit_chain_roles" WHERE "kind" = p_kind $$;
--> statement-breakpoint
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT "role_name" FROM "audit_chain_roles" LOOP
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
  writer name := audit_chain_role('writer');
  sealer name := audit_chain_role('sealer');
  admin name := audit_chain_role('admin');
BEGIN
  EXECUTE format('GRANT SELECT ON audit_logs TO %I', writer);
  EXECUTE format('GRANT INSERT (id, org_id, occurred_at, recorded_at, actor_type, actor_id, actor_email, action,'
    ' resource_type, resource_id, resource_name, details, ip_address, user_agent, result, error_message)'
    ' ON audit_logs TO %I', writer);

  EXECUTE format('GRANT SELECT ON audit_logs, audit_chain_state, audit_chain_discovery, audit_chain_progress, audit_chain_roles TO %I', sealer);
  EXECUTE format('GRANT UPDATE (prev_checksum, checksum, checksum_version, pii_digest, pii_salt) ON audit_logs TO %I', sealer);
  EXECUTE format('GRANT INSERT, UPDATE ON audit_chain_state, audit_chain_discovery, audit_chain_progress TO %I', sealer);
  EXECUTE format('GRANT SELECT ON SEQUENCE audit_logs_chain_seq TO %I', sealer);

  EXECUTE format('GRANT SELECT ON audit_logs, audit_chain_state, audit_chain_discovery, audit_chain_progress, audit_chain_roles TO %I', admin);
  EXECUTE format('GRANT SELECT ON SEQUENCE audit_logs_chain_seq TO %I', admin);

  -- Seeing which backend holds sealing back (query, state) needs pg_read_all_stats.
  -- A non-superuser migrating may not be allowed to grant it: say so and go on.
  BEGIN
    EXECUTE format('GRANT pg_read_all_stats TO %I, %I', sealer, admin);
  EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'could not grant pg_read_all_stats to % and %: the lag views will not show other roles'' queries', sealer, admin;
  END;
END
$$;
