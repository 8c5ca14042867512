-- Protects: audit content is append-only. No UPDATE may change a content column
-- of any row (sealed or pending), and DELETE and TRUNCATE are refused. Only the
-- chain columns (prev_checksum, checksum, checksum_version, pii_digest, pii_salt)
-- may be written after insert, and only by the sealer's role (see 0003_roles).
-- Replaces: nothing. An explicit, checkpointed retention path comes in its own
-- migration.
-- The UPDATE trigger names its columns, so the sealer's UPDATE (chain columns
-- only) never fires it and pays nothing for it.
CREATE FUNCTION "audit_logs_reject_content_change"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.id, NEW.org_id, NEW.chain_seq, NEW.occurred_at, NEW.recorded_at, NEW.actor_type,
      NEW.actor_id, NEW.actor_email, NEW.action, NEW.resource_type, NEW.resource_id,
      NEW.resource_name, NEW.details, NEW.ip_address, NEW.user_agent, NEW.result,
      NEW.error_message)
     IS DISTINCT FROM
     (OLD.id, OLD.org_id, OLD.chain_seq, OLD.occurred_at, OLD.recorded_at, OLD.actor_type,
      OLD.actor_id, OLD.actor_email, OLD.action, OLD.resource_type, OLD.resource_id,
      OLD.resource_name, OLD.details, OLD.ip_address, OLD.user_agent, OLD.result,
      OLD.error_message) THEN
    RAISE EXCEPTION 'audit_logs is append-only: the content of row % (chain_seq %) cannot be changed', OLD.id, OLD.chain_seq
      USING ERRCODE = 'AC001',
            HINT = 'Only the chain columns may be written after insert, by the sealer.';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "_100_audit_logs_append_only_update"
  BEFORE UPDATE OF id, org_id, chain_seq, occurred_at, recorded_at, actor_type, actor_id,
    actor_email, action, resource_type, resource_id, resource_name, details, ip_address,
    user_agent, result, error_message
  ON "audit_logs"
  FOR EACH ROW EXECUTE FUNCTION "audit_logs_reject_content_change"();
--> statement-breakpoint
CREATE FUNCTION "audit_logs_reject_delete"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_logs is append-only: % is not allowed', TG_OP
    USING ERRCODE = CASE TG_OP WHEN 'TRUNCATE' THEN 'AC003' ELSE 'AC002' END,
          HINT = 'Old rows are removed only through the checkpointed retention path (audit-chain retain).';
END
$$;
--> statement-breakpoint
CREATE TRIGGER "_100_audit_logs_append_only_delete"
  BEFORE DELETE ON "audit_logs"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_logs_reject_delete"();
--> statement-breakpoint
CREATE TRIGGER "_100_audit_logs_append_only_truncate"
  BEFORE TRUNCATE ON "audit_logs"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_logs_reject_delete"();
