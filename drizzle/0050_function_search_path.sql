-- Protects: our functions find our objects whoever calls them. Every function
-- in the schema audit_chain runs with search_path = audit_chain, pg_temp (as
-- 0021 set); CREATE OR REPLACE FUNCTION in a later migration drops that
-- setting unless it repeats it, so this runs last and sets it again. Idempotent.
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
