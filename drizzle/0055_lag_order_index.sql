-- Protects: the lag views' cost with very many chains. The overview and
-- /metrics list the worst chains first (most pending rows, then waiting
-- longest) and sum over every chain; pending rows are discovery's count minus
-- the chain state's sealed count, two tables, so every request used to join and
-- sort both in full (about 100 ms per pass at 100,000 chains). The sealer now
-- also writes the chain's sealed count and last seal time into its discovery
-- row, in the same transaction that moves the watermark (before it updates the
-- chain state, so the sealer and discovery never wait on each other in a
-- cycle), so one index orders every chain by pending rows and waiting time and
-- a page reads only its first rows. Nothing is added to the writers' INSERT
-- path: discovery and the sealer maintain all of it.
-- Replaces: the full join and sort of audit_chain_state and
-- audit_chain_discovery on every lag request.
ALTER TABLE "audit_chain_discovery"
  ADD COLUMN "sealed_count" bigint NOT NULL DEFAULT 0,
  ADD COLUMN "last_sealed_at" timestamptz;
--> statement-breakpoint
UPDATE "audit_chain_discovery" d
   SET "sealed_count" = s."sealed_count", "last_sealed_at" = s."last_sealed_at"
  FROM "audit_chain_state" s
 WHERE s."org_id" IS NOT DISTINCT FROM d."org_id";
--> statement-breakpoint
-- Worst first: most pending (least(sealed - seen, 0) ascending), then waiting
-- longest (since the last seal, or since the chain was first seen), then the chain key.
CREATE INDEX "audit_chain_discovery_lag_order" ON "audit_chain_discovery" (
  (least("sealed_count" - "seen_count", 0)),
  (coalesce("last_sealed_at", "first_seen_at")),
  (coalesce("org_id", '00000000-0000-0000-0000-000000000000'::uuid))
);
--> statement-breakpoint
-- The chains with pending rows that have waited longest (the overall oldest pending row).
CREATE INDEX "audit_chain_discovery_waiting" ON "audit_chain_discovery" ((coalesce("last_sealed_at", "first_seen_at")))
  WHERE "seen_count" > "sealed_count";
--> statement-breakpoint
-- The lag views join the chain tables on the chain key (the system chain's NULL org_id as the nil uuid).
CREATE UNIQUE INDEX "audit_chain_discovery_chain_key" ON "audit_chain_discovery" ((coalesce("org_id", '00000000-0000-0000-0000-000000000000'::uuid)));
--> statement-breakpoint
CREATE UNIQUE INDEX "audit_chain_state_chain_key" ON "audit_chain_state" ((coalesce("org_id", '00000000-0000-0000-0000-000000000000'::uuid)));
--> statement-breakpoint
CREATE INDEX "audit_chain_state_halted" ON "audit_chain_state" ((coalesce("org_id", '00000000-0000-0000-0000-000000000000'::uuid)))
  WHERE "halted_at" IS NOT NULL;
