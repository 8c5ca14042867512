-- Protects: the read API tells a client which rows are sealed by comparing
-- chain_seq with its chain's watermark, also when it runs as the writer role.
-- The writer may read the chain state; it still cannot change it.
-- Replaces: nothing.
DO $$
BEGIN
  EXECUTE format('GRANT SELECT ON audit_chain_state TO %I', audit_chain_role('writer'));
END
$$;
