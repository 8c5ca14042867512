-- Protects: the same as 0050 and 0060 (our functions run with search_path =
-- audit_chain, pg_temp; every role of ours may use the schema), for the
-- functions of 0061 (audit_chain_xact_token() and those it re-created), which
-- came after 0060: a database migrated before them has 0060 applied already, and
-- new migrations must come after the last applied one to be applied at all. Keep this the last migration (repeat
-- it, under a higher number, after any new ones). Idempotent.
-- Replaces: the proconfig of functions (re)created after 0021 without it.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT p.oid::regprocedure AS fn FROM pg_proc p
    WHERE p.pronamespace = 'audit_chain'::regnamespace
      AND NOT coalesce('search_path=audit_chain, pg_temp' = ANY (p.proconfig), false)
  LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = audit_chain, pg_temp', r.fn);
  END LOOP;
END
$$;
--> statement-breakpoint
-- Every role of ours, including those created after 0021 (the signer role of
-- 0035), may use the schema its objects live in. Idempotent.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT DISTINCT "role_name" FROM "audit_chain"."audit_chain_roles" LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA audit_chain TO %I', r.role_name);
  END LOOP;
END
$$;
