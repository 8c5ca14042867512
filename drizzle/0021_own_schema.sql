-- Protects: the product's names. Everything audit-chain creates lives in the
-- schema audit_chain, so a product's own public.audit_logs, or a function
-- audit_log_verify_chain(uuid) of its own, cannot collide with ours (42P07, 42723).
-- `audit-chain migrate` runs every migration with search_path = audit_chain, so
-- a fresh install creates everything there; this migration moves the objects an
-- earlier release created in another schema (public, as a rule): tables with
-- their indexes, constraints, triggers, owned sequences and grants, the
-- partitions of audit_logs, the free-standing sequence, views and functions.
-- Every function of ours then runs with search_path = audit_chain, pg_temp, so
-- it finds our objects whoever calls it. Our roles get USAGE on the schema.
-- Replaces: the schema of 0000-0020's objects (current_schema() when they ran).
CREATE SCHEMA IF NOT EXISTS "audit_chain";
--> statement-breakpoint
DO $$
DECLARE
  v_from name;
  r record;
BEGIN
  SELECT n.nspname INTO v_from
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relname = 'audit_chain_state' AND c.relkind = 'r' AND n.nspname <> 'audit_chain';
  IF v_from IS NULL THEN
    RETURN;
  END IF;
  -- Partitions first (names of our choosing: audit_logs_p...), then the tables
  -- and views of ours by name; sequences owned by a moved column move with it.
  FOR r IN
    SELECT c.relname
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname = 'audit_logs' AND p.relnamespace = v_from::regnamespace AND c.relnamespace = v_from::regnamespace
  LOOP
    EXECUTE format('ALTER TABLE %I.%I SET SCHEMA audit_chain', v_from, r.relname);
  END LOOP;
  FOR r IN
    SELECT c.relname, c.relkind
    FROM pg_class c
    WHERE c.relnamespace = v_from::regnamespace
      AND c.relkind IN ('r', 'p', 'v')
      AND c.relname IN ('audit_logs', 'audit_chain_adoption_queue', 'audit_chain_adoptions', 'audit_chain_checkpoints',
        'audit_chain_discovery', 'audit_chain_legacy_links', 'audit_chain_link_claims', 'audit_chain_progress',
        'audit_chain_redactions', 'audit_chain_retention_cuts', 'audit_chain_roles', 'audit_chain_state',
        'audit_chain_verifications', 'audit_chain_verify_status', 'audit_chain_workers', 'audit_chain_open_writers')
  LOOP
    IF r.relkind = 'v' THEN
      EXECUTE format('ALTER VIEW %I.%I SET SCHEMA audit_chain', v_from, r.relname);
    ELSE
      EXECUTE format('ALTER TABLE %I.%I SET SCHEMA audit_chain', v_from, r.relname);
    END IF;
  END LOOP;
  FOR r IN
    SELECT c.relname
    FROM pg_class c
    WHERE c.relnamespace = v_from::regnamespace AND c.relkind = 'S'
      AND c.relname IN ('audit_logs_chain_seq', 'audit_chain_adoption_queue_seq_seq', 'audit_chain_adoptions_id_seq',
        'audit_chain_checkpoints_id_seq', 'audit_chain_retention_cuts_id_seq', 'audit_chain_verifications_id_seq')
  LOOP
    EXECUTE format('ALTER SEQUENCE %I.%I SET SCHEMA audit_chain', v_from, r.relname);
  END LOOP;
  FOR r IN
    SELECT p.oid::regprocedure AS fn
    FROM pg_proc p
    WHERE p.pronamespace = v_from::regnamespace
      AND p.proname IN ('audit_chain_adoption_capture', 'audit_chain_delete_cut', 'audit_chain_partition_add_statement_triggers',
        'audit_chain_partition_convert', 'audit_chain_partition_create', 'audit_chain_partition_move_grants',
        'audit_chain_record_retention_cut', 'audit_chain_redact', 'audit_chain_retain_partitions', 'audit_chain_retain_prefix',
        'audit_chain_retention_cut_ids', 'audit_chain_role', 'audit_log_verify_chain', 'audit_logs_check_retention_cut',
        'audit_logs_claim_links', 'audit_logs_reject_content_change', 'audit_logs_reject_delete')
  LOOP
    EXECUTE format('ALTER FUNCTION %s SET SCHEMA audit_chain', r.fn);
  END LOOP;
END
$$;
--> statement-breakpoint
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p WHERE p.pronamespace = 'audit_chain'::regnamespace LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = audit_chain, pg_temp', r.fn);
  END LOOP;
  FOR r IN SELECT DISTINCT "role_name" FROM "audit_chain"."audit_chain_roles" LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA audit_chain TO %I', r.role_name);
  END LOOP;
END
$$;
