-- Protects: rows are deleted only at a checkpoint that a holder of the signing
-- key recorded and whose signature the retention command verified. The database
-- cannot check an Ed25519 signature itself, so the cut rests on three things
-- (docs/threat-model.md, "Retention"):
--   * only the signer role may add a checkpoint row, and no role may change one
--     (0035_checkpoint_signer): the retention role can neither forge a checkpoint
--     nor move a signed one to another row;
--   * the checkpoint's signed line (body) must match the columns this function
--     checks against the chain, else AC010;
--   * `audit-chain retain` verifies that line's signature against its keyring in
--     the same transaction, just before it calls audit_chain_retain_prefix() or
--     audit_chain_retain_partitions(), and refuses otherwise.
-- The cut records the checkpoint's key_id (0037_retention_cut_key). Every check
-- of 0015 is kept.
-- Replaces: audit_chain_record_retention_cut() of 0015_retention_cuts.
CREATE OR REPLACE FUNCTION "audit_chain_record_retention_cut"(p_checkpoint_id bigint, p_older_than timestamptz)
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
  -- The signed line (body) must say what the columns say: the columns are what is
  -- checked below, the body is what the retention command verified the signature of.
  IF jsonb_typeof(c.body) IS DISTINCT FROM 'object'
     OR c.body -> 'org_id' IS DISTINCT FROM coalesce(to_jsonb(c.org_id::text), 'null'::jsonb)
     OR c.body ->> 'chain_seq' IS DISTINCT FROM c.chain_seq::text
     OR c.body ->> 'sealed_count' IS DISTINCT FROM c.sealed_count::text
     OR c.body ->> 'checksum' IS DISTINCT FROM c.checksum
     OR c.body ->> 'key_id' IS DISTINCT FROM c.key_id
     OR (c.body ? 'signature' AND c.body ->> 'signature' IS DISTINCT FROM c.signature) THEN
    RAISE EXCEPTION 'retention: checkpoint % of chain %: its signed line (body) does not match its columns (org_id, chain_seq, sealed_count, checksum, key_id, signature): not a checkpoint to cut at',
      p_checkpoint_id, v_chain USING ERRCODE = 'AC010';
  END IF;
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
  INSERT INTO audit_chain_retention_cuts (org_id, cut_seq, checkpoint_id, checksum, sealed_count, older_than, key_id)
  VALUES (c.org_id, c.chain_seq, c.id, c.checksum, c.sealed_count, p_older_than, c.key_id)
  RETURNING id INTO v_id;
  RETURN v_id;
END
$$;
