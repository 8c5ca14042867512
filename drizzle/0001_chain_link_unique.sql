-- Protects: a chain never forks, even under a buggy or duplicated sealer. Within one
-- chain (org_id, the system chain's NULL included) a predecessor checksum is used
-- by at most one row; the genesis predecessor (64 zeros) makes this also "at most
-- one first row per chain". Partial, so pending rows (prev_checksum NULL) cost the
-- insert path no index entry.
-- Replaces: nothing; it lives here because drizzle cannot express a partial
-- NULLS NOT DISTINCT unique index.
CREATE UNIQUE INDEX "audit_logs_chain_link_unique"
  ON "audit_logs" ("org_id", "prev_checksum") NULLS NOT DISTINCT
  WHERE "prev_checksum" IS NOT NULL;
