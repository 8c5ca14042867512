-- Protects: the safe horizon and the discovery scan each have exactly one
-- progress row (id = 1), so stages update it with a compare-and-set instead of
-- racing to create it.
-- Replaces: nothing.
INSERT INTO "audit_chain_progress" ("id") VALUES (1) ON CONFLICT DO NOTHING;
