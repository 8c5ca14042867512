-- Protects: least privilege. The sealer role (the worker) records the checkpoints
-- it signs and the verification runs it schedules; the admin role reads them.
-- Replaces: nothing.
DO $$
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON audit_chain_checkpoints, audit_chain_verifications, audit_chain_verify_status TO %I',
    audit_chain_role('sealer'));
  EXECUTE format('GRANT SELECT ON audit_chain_checkpoints, audit_chain_verifications, audit_chain_verify_status TO %I',
    audit_chain_role('admin'));
END
$$;
