-- Protects: no row written to a legacy audit table during its adoption is lost.
-- While `audit-chain adopt` copies the legacy rows into audit_logs, the
-- application keeps inserting into the legacy table; this statement trigger
-- function (installed on the legacy table by adopt, in the same transaction
-- that drops the legacy insert-time hashing trigger, and dropped again at the
-- switch) queues the id of every row inserted there, so adopt copies them after
-- the historical rows, in insert order. SECURITY DEFINER: the application's role
-- needs no privilege on the queue. Arguments: the adoption id and the legacy
-- table's id column.
-- Replaces: nothing.
CREATE FUNCTION "audit_chain_adoption_capture"() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  EXECUTE format('INSERT INTO audit_chain_adoption_queue (adoption_id, legacy_id) SELECT $1, %I::text FROM captured_rows', TG_ARGV[1])
    USING TG_ARGV[0]::bigint;
  RETURN NULL;
END
$$;
--> statement-breakpoint
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION audit_chain_adoption_capture() SET search_path = %I, pg_temp', current_schema());
  REVOKE ALL ON FUNCTION audit_chain_adoption_capture() FROM PUBLIC;
END
$$;
