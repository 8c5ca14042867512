-- Protects: the lag figures of attached tables. One row per attached table:
-- the safe horizon the sealer last proved for it (every chain_seq at or below
-- it is final; rows above it wait, held by the table's open writers or by the
-- sealer's next round) and when it last moved. Written by the sealer when the
-- horizon moves, never by the product's writers; read by the lag views, which
-- count the rows above it as held.
-- Replaces: nothing (the horizon of an attached table was not recorded).
CREATE TABLE "audit_chain_table_horizon" (
  "table_id" integer PRIMARY KEY REFERENCES "audit_chain_tables" ("id"),
  "horizon_seq" bigint NOT NULL DEFAULT 0,
  "horizon_at" timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
DO $$
DECLARE
  sealer name := audit_chain_role('sealer');
  admin name := audit_chain_role('admin');
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON audit_chain_table_horizon TO %I', sealer);
  EXECUTE format('GRANT SELECT ON audit_chain_table_horizon TO %I', admin);
END
$$;
