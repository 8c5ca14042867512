-- Protects: personal data can be erased from sealed audit rows without breaking
-- verification, and nothing else can change. The personal fields actor_email,
-- ip_address and user_agent of a row may change only to NULL, together with
-- pii_salt, with every chain column (prev_checksum, checksum, checksum_version,
-- pii_digest) kept, on a sealed row, and only in the transaction that recorded
-- the row's redaction marker (audit_chain_redactions). That marker is written
-- only by audit_chain_redact(), which only the redactor role may call; it also
-- writes an audit row into the same chain saying who erased which fields of
-- which row and why (never the erased values). Any other change of a personal
-- field, by anyone, fails with AC001.
-- Replaces: audit_logs_reject_content_change() of 0002_append_only, which
-- refused every change of a personal field.
CREATE OR REPLACE FUNCTION "audit_logs_reject_content_change"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.id, NEW.org_id, NEW.chain_seq, NEW.occurred_at, NEW.recorded_at, NEW.actor_type,
      NEW.actor_id, NEW.action, NEW.resource_type, NEW.resource_id,
      NEW.resource_name, NEW.details, NEW.result, NEW.error_message)
     IS DISTINCT FROM
     (OLD.id, OLD.org_id, OLD.chain_seq, OLD.occurred_at, OLD.recorded_at, OLD.actor_type,
      OLD.actor_id, OLD.action, OLD.resource_type, OLD.resource_id,
      OLD.resource_name, OLD.details, OLD.result, OLD.error_message)
     OR ((NEW.actor_email, NEW.ip_address, NEW.user_agent) IS DISTINCT FROM (OLD.actor_email, OLD.ip_address, OLD.user_agent)
         AND NOT (
           -- the erasure audit_chain_redact() performs, and only that
           NEW.actor_email IS NULL AND NEW.ip_address IS NULL AND NEW.user_agent IS NULL AND NEW.pii_salt IS NULL
           AND OLD.checksum IS NOT NULL
           AND (NEW.prev_checksum, NEW.checksum, NEW.checksum_version, NEW.pii_digest)
               IS NOT DISTINCT FROM (OLD.prev_checksum, OLD.checksum, OLD.checksum_version, OLD.pii_digest)
           AND EXISTS (SELECT 1 FROM audit_chain_redactions r
                        WHERE r.chain_seq = OLD.chain_seq AND r.row_id = OLD.id
                          AND r.xact_id = pg_current_xact_id()::text::bigint)))
  THEN
    RAISE EXCEPTION 'audit_logs is append-only: the content of row % (chain_seq %) cannot be changed', OLD.id, OLD.chain_seq
      USING ERRCODE = 'AC001',
            HINT = 'Only the chain columns may be written after insert, by the sealer; personal fields are erased only by audit-chain redact.';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
-- Erases the personal fields of one sealed row and records who did it and why.
-- p_fields lists the fields to erase (actor_email, ip_address, user_agent); the
-- salt covers all three together, so a field left out must already be NULL.
-- Raises AC011 naming the refused request.
CREATE FUNCTION "audit_chain_redact"(p_row_id uuid, p_fields text[], p_reason text)
RETURNS TABLE (chain_seq bigint, org_id uuid, erased text[], audit_row_id uuid, audit_chain_seq bigint)
LANGUAGE plpgsql SECURITY DEFINER AS $$
#variable_conflict use_column
DECLARE
  personal constant text[] := ARRAY['actor_email', 'ip_address', 'user_agent'];
  v_row record;
  v_rows int;
  v_watermark bigint;
  v_held text[];
  v_left text[];
  v_audit record;
BEGIN
  IF p_fields IS NULL OR cardinality(p_fields) = 0 OR NOT (p_fields <@ personal) THEN
    RAISE EXCEPTION 'redact: fields %: want a non-empty list of actor_email, ip_address, user_agent', p_fields USING ERRCODE = 'AC011';
  END IF;
  SELECT count(*) INTO v_rows FROM audit_logs a WHERE a.id = p_row_id;
  IF v_rows <> 1 THEN
    RAISE EXCEPTION 'redact: row %: got % rows with this id, want exactly one', p_row_id, v_rows USING ERRCODE = 'AC011';
  END IF;
  SELECT a.chain_seq, a.org_id, a.checksum, a.actor_email, a.ip_address, a.user_agent, a.pii_salt
    INTO v_row FROM audit_logs a WHERE a.id = p_row_id FOR UPDATE;
  IF EXISTS (SELECT 1 FROM audit_chain_redactions r WHERE r.chain_seq = v_row.chain_seq) THEN
    RAISE EXCEPTION 'redact: row % (chain_seq %) is already redacted', p_row_id, v_row.chain_seq USING ERRCODE = 'AC011';
  END IF;
  SELECT s.watermark_seq INTO v_watermark FROM audit_chain_state s WHERE s.org_id IS NOT DISTINCT FROM v_row.org_id;
  IF v_row.checksum IS NULL OR v_watermark IS NULL OR v_row.chain_seq > v_watermark THEN
    RAISE EXCEPTION 'redact: row % (chain_seq %) is pending: got watermark %, want the row sealed first (its pii_digest must commit to the values before they go)',
      p_row_id, v_row.chain_seq, coalesce(v_watermark::text, 'none') USING ERRCODE = 'AC011';
  END IF;
  v_held := array_remove(ARRAY[
    CASE WHEN v_row.actor_email IS NOT NULL THEN 'actor_email' END,
    CASE WHEN v_row.ip_address IS NOT NULL THEN 'ip_address' END,
    CASE WHEN v_row.user_agent IS NOT NULL THEN 'user_agent' END], NULL);
  SELECT coalesce(array_agg(f), '{}') INTO v_left FROM unnest(v_held) f WHERE NOT (f = ANY (p_fields));
  IF cardinality(v_left) > 0 THEN
    RAISE EXCEPTION 'redact: row % still holds %, which the request leaves: the erased salt covers all personal fields together, so want them in the list too',
      p_row_id, array_to_string(v_left, ', ') USING ERRCODE = 'AC011';
  END IF;
  INSERT INTO audit_logs (org_id, actor_type, actor_id, action, resource_type, resource_id, details)
  VALUES (v_row.org_id, 'operator', session_user, 'audit_log.redact', 'audit_log', p_row_id::text,
          jsonb_strip_nulls(jsonb_build_object('chain_seq', v_row.chain_seq::text, 'fields', to_jsonb(v_held), 'reason', p_reason)))
  RETURNING id, audit_logs.chain_seq INTO v_audit;
  INSERT INTO audit_chain_redactions (chain_seq, row_id, org_id, fields, reason, redacted_by, xact_id, audit_row_id)
  VALUES (v_row.chain_seq, p_row_id, v_row.org_id, v_held, p_reason, session_user, pg_current_xact_id()::text::bigint, v_audit.id);
  UPDATE audit_logs a SET actor_email = NULL, ip_address = NULL, user_agent = NULL, pii_salt = NULL
   WHERE a.id = p_row_id AND a.chain_seq = v_row.chain_seq;
  RETURN QUERY SELECT v_row.chain_seq, v_row.org_id, v_held, v_audit.id, v_audit.chain_seq;
END
$$;
--> statement-breakpoint
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION audit_chain_redact(uuid, text[], text) SET search_path = %I, pg_temp', current_schema());
  REVOKE ALL ON FUNCTION audit_chain_redact(uuid, text[], text) FROM PUBLIC;
  EXECUTE format('GRANT EXECUTE ON FUNCTION audit_chain_redact(uuid, text[], text) TO %I', audit_chain_role('redactor'));
END
$$;
