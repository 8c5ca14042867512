-- Protects: the lag views' plans at many chains. The chain tables are joined on
-- their chain key, coalesce(org_id, the nil uuid) (the system chain has a NULL
-- org_id). Without statistics on that expression the planner guesses a join of
-- 100,000 chains at 50,000,000 rows, then sorts and merge-joins (spilling to
-- disk) instead of hashing: seconds per admin request. Expression statistics
-- tell it the key is unique per table. Replaces nothing; ANALYZE (autovacuum)
-- keeps them current.
CREATE STATISTICS IF NOT EXISTS "audit_chain_state_chain_key_stats"
  ON (coalesce("org_id", '00000000-0000-0000-0000-000000000000'::uuid)) FROM "audit_chain_state";
--> statement-breakpoint
CREATE STATISTICS IF NOT EXISTS "audit_chain_discovery_chain_key_stats"
  ON (coalesce("org_id", '00000000-0000-0000-0000-000000000000'::uuid)) FROM "audit_chain_discovery";
--> statement-breakpoint
CREATE STATISTICS IF NOT EXISTS "audit_chain_verify_status_chain_key_stats"
  ON (coalesce("org_id", '00000000-0000-0000-0000-000000000000'::uuid)) FROM "audit_chain_verify_status";
--> statement-breakpoint
ANALYZE "audit_chain_state", "audit_chain_discovery", "audit_chain_verify_status";
