-- Protects: audit rows leave audit_logs only as a checkpointed prefix of their
-- chain. A DELETE passes the append-only triggers only when its transaction
-- names retention cuts (setting audit_chain.retention_cuts, set by the
-- retention functions below), and then only for rows at or below the cut of
-- their own chain: any other row in the statement fails it with AC002. A cut is
-- recorded (audit_chain_retention_cuts) only for a signed checkpoint that was
-- recorded and exported to every sink, at a sealed row strictly below the
-- chain's watermark (the head row stays, so sealing goes on), whose checksum and
-- position (rows from genesis) the database confirms, and when every row up to
-- it is older than the requested time. Only the retention role may call these
-- functions; nobody is granted DELETE, and a plain DELETE by the table owner or a
-- superuser still fails with AC002. TRUNCATE stays refused (AC003).
-- Replaces: audit_logs_reject_delete() of 0002_append_only, which refused every
-- DELETE, for the checkpointed retention path that 0002 announced.
CREATE FUNCTION "audit_chain_retention_cut_ids"() RETURNS bigint[]
LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('audit_chain.retention_cuts', true), ''), '{}')::bigint[]
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "audit_logs_reject_delete"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- The rows themselves are checked against the named cuts after the statement
  -- (_900_audit_logs_retention_covered), where the deleted rows are visible.
  IF TG_OP = 'DELETE' AND cardinality(audit_chain_retention_cut_ids()) > 0 THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'audit_logs is append-only: % is not allowed', TG_OP
    USING ERRCODE = CASE TG_OP WHEN 'TRUNCATE' THEN 'AC003' ELSE 'AC002' END,
          HINT = 'Old rows are removed only through the checkpointed retention path (audit-chain retain).';
END
$$;
--> statement-breakpoint
CREATE FUNCTION "audit_logs_check_retention_cut"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  stray record;
BEGIN
  SELECT d.org_id, d.chain_seq INTO stray
    FROM deleted_rows d
   WHERE NOT EXISTS (
           SELECT 1 FROM audit_chain_retention_cuts c
            WHERE c.id = ANY (audit_chain_retention_cut_ids())
              AND c.org_id IS NOT DISTINCT FROM d.org_id
              AND d.chain_seq <= c.cut_seq)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'audit_logs is append-only: row chain_seq % of chain % is not covered by a retention cut of this transaction',
        stray.chain_seq, coalesce(stray.org_id::text, 'system')
      USING ERRCODE = 'AC002',
            HINT = 'Old rows are removed only through the checkpointed retention path (audit-chain retain).';
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "_900_audit_logs_retention_covered"
  AFTER DELETE ON "audit_logs"
  REFERENCING OLD TABLE AS deleted_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_logs_check_retention_cut"();
--> statement-breakpoint
-- Records a cut at a recorded checkpoint after checking it against the database;
-- returns the cut's id. Raises AC010 naming the broken invariant.
CREATE FUNCTION "audit_chain_record_retention_cut"(p_checkpoint_id bigint, p_older_than timestamptz)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  c record;
  s record;
  v_row record;
  v_after bigint;
  v_young bigint;
  v_id bigint;
  v_chain text;
BEGIN
  SELECT * INTO c FROM audit_chain_checkpoints WHERE id = p_checkpoint_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'retention: no recorded checkpoint with id %', p_checkpoint_id USING ERRCODE = 'AC010';
  END IF;
  v_chain := coalesce(c.org_id::text, 'system');
  IF c.exported_to IS NULL OR c.exported_to = '{}'::jsonb OR c.exported_to @? '$.* ? (@ == null)' THEN
    RAISE EXCEPTION 'retention: checkpoint % of chain % has not reached every sink (exported_to %): rows are deleted only after their checkpoint is outside the database',
      p_checkpoint_id, v_chain, coalesce(c.exported_to::text, 'null') USING ERRCODE = 'AC010';
  END IF;
  IF c.org_id IS NULL THEN
    SELECT * INTO s FROM audit_chain_state WHERE org_id IS NULL FOR UPDATE;
  ELSE
    SELECT * INTO s FROM audit_chain_state WHERE org_id = c.org_id FOR UPDATE;
  END IF;
  IF NOT FOUND OR c.chain_seq >= s.watermark_seq THEN
    RAISE EXCEPTION 'retention: cut at chain_seq % of chain %: got watermark %, want a cut strictly below it (the head row stays)',
      c.chain_seq, v_chain, coalesce(s.watermark_seq::text, 'none') USING ERRCODE = 'AC010';
  END IF;
  IF c.org_id IS NULL THEN
    SELECT a.checksum INTO v_row FROM audit_logs a WHERE a.org_id IS NULL AND a.chain_seq = c.chain_seq;
    SELECT count(*) INTO v_after FROM audit_logs a WHERE a.org_id IS NULL AND a.chain_seq > c.chain_seq AND a.chain_seq <= s.watermark_seq;
    SELECT count(*) INTO v_young FROM audit_logs a WHERE a.org_id IS NULL AND a.chain_seq <= c.chain_seq AND a.recorded_at >= p_older_than;
  ELSE
    SELECT a.checksum INTO v_row FROM audit_logs a WHERE a.org_id = c.org_id AND a.chain_seq = c.chain_seq;
    SELECT count(*) INTO v_after FROM audit_logs a WHERE a.org_id = c.org_id AND a.chain_seq > c.chain_seq AND a.chain_seq <= s.watermark_seq;
    SELECT count(*) INTO v_young FROM audit_logs a WHERE a.org_id = c.org_id AND a.chain_seq <= c.chain_seq AND a.recorded_at >= p_older_than;
  END IF;
  IF v_row IS NULL OR v_row.checksum IS DISTINCT FROM c.checksum THEN
    RAISE EXCEPTION 'retention: row chain_seq % of chain %: got checksum %, want the checkpoint''s %',
      c.chain_seq, v_chain, coalesce(v_row.checksum, '(no row)'), c.checksum USING ERRCODE = 'AC010';
  END IF;
  IF s.sealed_count - v_after <> c.sealed_count THEN
    RAISE EXCEPTION 'retention: chain % up to chain_seq %: got % rows from genesis (state % minus % after it), want the checkpoint''s sealed_count %',
      v_chain, c.chain_seq, s.sealed_count - v_after, s.sealed_count, v_after, c.sealed_count USING ERRCODE = 'AC010';
  END IF;
  IF v_young > 0 THEN
    RAISE EXCEPTION 'retention: chain % up to chain_seq %: got % rows recorded at or after %, want none',
      v_chain, c.chain_seq, v_young, p_older_than USING ERRCODE = 'AC010';
  END IF;
  INSERT INTO audit_chain_retention_cuts (org_id, cut_seq, checkpoint_id, checksum, sealed_count, older_than)
  VALUES (c.org_id, c.chain_seq, c.id, c.checksum, c.sealed_count, p_older_than)
  RETURNING id INTO v_id;
  RETURN v_id;
END
$$;
--> statement-breakpoint
-- Deletes the rows of one chain up to and including a signed, exported
-- checkpoint's row; returns how many were deleted.
CREATE FUNCTION "audit_chain_retain_prefix"(p_checkpoint_id bigint, p_older_than timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  v_cut bigint;
  c record;
  v_deleted bigint;
BEGIN
  v_cut := audit_chain_record_retention_cut(p_checkpoint_id, p_older_than);
  SELECT * INTO c FROM audit_chain_retention_cuts WHERE id = v_cut;
  PERFORM set_config('audit_chain.retention_cuts', ARRAY[v_cut]::text, true);
  IF c.org_id IS NULL THEN
    WITH d AS (DELETE FROM audit_logs WHERE org_id IS NULL AND chain_seq <= c.cut_seq RETURNING chain_seq)
    SELECT count(*) INTO v_deleted FROM d;
    DELETE FROM audit_chain_legacy_links WHERE org_id IS NULL AND chain_seq <= c.cut_seq;
  ELSE
    WITH d AS (DELETE FROM audit_logs WHERE org_id = c.org_id AND chain_seq <= c.cut_seq RETURNING chain_seq)
    SELECT count(*) INTO v_deleted FROM d;
    DELETE FROM audit_chain_legacy_links WHERE org_id = c.org_id AND chain_seq <= c.cut_seq;
  END IF;
  PERFORM set_config('audit_chain.retention_cuts', '', true);
  UPDATE audit_chain_retention_cuts SET deleted_rows = v_deleted WHERE id = v_cut;
  RETURN v_deleted;
END
$$;
--> statement-breakpoint
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION audit_chain_retain_prefix(bigint, timestamptz) SET search_path = %I, pg_temp', current_schema());
  REVOKE ALL ON FUNCTION audit_chain_retain_prefix(bigint, timestamptz) FROM PUBLIC;
  REVOKE ALL ON FUNCTION audit_chain_record_retention_cut(bigint, timestamptz) FROM PUBLIC;
  EXECUTE format('GRANT EXECUTE ON FUNCTION audit_chain_retain_prefix(bigint, timestamptz) TO %I', audit_chain_role('retention'));
END
$$;
