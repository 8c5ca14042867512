-- Protects: the chains of attached tables. One row per chain (a chained table
-- and a value of its chain key, NULL for a table without one or for rows whose
-- key is NULL): the watermark (chain_seq of the last sealed row), the head
-- checksum and how many rows are sealed; the sealer locks it (FOR UPDATE SKIP
-- LOCKED) while it seals that chain and moves the watermark with a
-- compare-and-set, as for audit_logs' own audit_chain_state.
-- Replaces: nothing.
CREATE TABLE "audit_chain_table_state" (
  "table_id" integer NOT NULL REFERENCES "audit_chain_tables" ("id"),
  "chain_key" text,
  "watermark_seq" bigint NOT NULL DEFAULT 0,
  "head_checksum" text,
  "sealed_rows" bigint NOT NULL DEFAULT 0,
  "updated_at" timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT "audit_chain_table_state_chain" UNIQUE NULLS NOT DISTINCT ("table_id", "chain_key")
);
--> statement-breakpoint
DO $$
DECLARE
  sealer name := audit_chain_role('sealer');
  admin name := audit_chain_role('admin');
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON audit_chain_table_state TO %I', sealer);
  EXECUTE format('GRANT SELECT ON audit_chain_table_state TO %I', admin);
END
$$;
