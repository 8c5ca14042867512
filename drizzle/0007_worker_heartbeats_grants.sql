-- Protects: least privilege. Sealing workers write their own heartbeat rows; the
-- admin role reads them for the lag views.
-- Replaces: nothing.
DO $$
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON audit_chain_workers TO %I', audit_chain_role('sealer'));
  EXECUTE format('GRANT SELECT ON audit_chain_workers TO %I', audit_chain_role('admin'));
END
$$;
