-- Protects: operators can check a chain from psql, without the project's code:
--   select * from audit_log_verify_chain('<org uuid>');   -- NULL: the system chain
-- returns one row per break (every break, not only the first), in chain_seq
-- order, with the break kinds of `audit-chain verify` (docs/chain-format.md):
--   link_broken               prev_checksum is not the previous sealed row's checksum (genesis,
--                             64 zeros, for the first row): a row deleted, inserted or moved here;
--                             the detail names another row sharing the predecessor (a fork)
--   unsealed_below_watermark  a row at or below the watermark without links
--   unknown_version           checksum_version is not 1
--   head_mismatch             the rows do not end where audit_chain_state says: no row at the
--                             watermark, a different head checksum, or another row count
-- It checks LINKS ONLY. It does not recompute checksums (the canonical form, RFC
-- 8785 JSON with IEEE-754 number rendering, is not reproduced exactly in SQL), so
-- a row whose content was edited in place, a row moved between organizations with
-- its checksum intact, and a chain recomputed end to end are not seen here:
-- `audit-chain verify` recomputes every checksum and checks the signed checkpoints.
-- State and rows are read in the calling statement's snapshot (STABLE), so a
-- sealer running meanwhile cannot make a clean chain look broken. Constant memory:
-- the rows are walked through a cursor on the (org_id, chain_seq) index.
-- Replaces: ad-hoc link queries (and the test-only SQL check) operators ran before.
CREATE FUNCTION "audit_log_verify_chain"(p_org_id uuid)
RETURNS TABLE (kind text, chain_seq bigint, row_id uuid, expected text, found text, detail text)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
  genesis constant text := repeat('0', 64);
  v_watermark bigint := 0;
  v_head text;
  v_sealed_count bigint := 0;
  v_has_state boolean;
  v_prev text := genesis;
  v_prev_known boolean := true;
  v_prev_seq bigint;
  v_count bigint := 0;
  v_last_seq bigint;
  v_last_checksum text;
  v_twin record;
  v_fork boolean;
  r record;
  c refcursor;
BEGIN
  IF p_org_id IS NULL THEN
    SELECT s.watermark_seq, s.head_checksum, s.sealed_count INTO v_watermark, v_head, v_sealed_count
      FROM audit_chain_state s WHERE s.org_id IS NULL;
  ELSE
    SELECT s.watermark_seq, s.head_checksum, s.sealed_count INTO v_watermark, v_head, v_sealed_count
      FROM audit_chain_state s WHERE s.org_id = p_org_id;
  END IF;
  v_has_state := FOUND;
  IF NOT v_has_state THEN
    v_watermark := 0;
    v_sealed_count := 0;
    -- No state: nothing should be sealed. A sealed row says the state was deleted.
    IF p_org_id IS NULL THEN
      SELECT a.id, a.chain_seq INTO v_twin FROM audit_logs a WHERE a.org_id IS NULL AND a.checksum IS NOT NULL ORDER BY a.org_id, a.chain_seq LIMIT 1;
    ELSE
      SELECT a.id, a.chain_seq INTO v_twin FROM audit_logs a WHERE a.org_id = p_org_id AND a.checksum IS NOT NULL ORDER BY a.chain_seq LIMIT 1;
    END IF;
    IF FOUND THEN
      RETURN QUERY SELECT 'head_mismatch'::text, v_twin.chain_seq, v_twin.id, 'a row in audit_chain_state'::text, NULL::text,
        format('the chain has sealed rows (the first at chain_seq %s) but no row in audit_chain_state', v_twin.chain_seq);
    END IF;
    RETURN;
  END IF;

  IF p_org_id IS NULL THEN
    OPEN c FOR SELECT a.id, a.chain_seq, a.prev_checksum, a.checksum, a.checksum_version
      FROM audit_logs a WHERE a.org_id IS NULL AND a.chain_seq <= v_watermark ORDER BY a.org_id, a.chain_seq;
  ELSE
    OPEN c FOR SELECT a.id, a.chain_seq, a.prev_checksum, a.checksum, a.checksum_version
      FROM audit_logs a WHERE a.org_id = p_org_id AND a.chain_seq <= v_watermark ORDER BY a.chain_seq;
  END IF;
  LOOP
    FETCH c INTO r;
    EXIT WHEN NOT FOUND;
    v_count := v_count + 1;
    v_last_seq := r.chain_seq;
    v_last_checksum := r.checksum;
    IF r.checksum IS NULL THEN
      RETURN QUERY SELECT 'unsealed_below_watermark'::text, r.chain_seq, r.id, 'prev_checksum and checksum'::text, NULL::text,
        format('the row is at or below the watermark %s but has no links', v_watermark);
      v_prev_known := false;
      v_prev_seq := r.chain_seq;
      CONTINUE;
    END IF;
    IF r.checksum_version IS DISTINCT FROM 1 THEN
      RETURN QUERY SELECT 'unknown_version'::text, r.chain_seq, r.id, '1'::text, r.checksum_version::text,
        format('checksum_version %s is not one this function knows (1)', coalesce(r.checksum_version::text, 'NULL'));
    END IF;
    IF v_prev_known AND r.prev_checksum IS DISTINCT FROM v_prev THEN
      IF p_org_id IS NULL THEN
        SELECT a.id, a.chain_seq INTO v_twin FROM audit_logs a
         WHERE a.org_id IS NULL AND a.prev_checksum = r.prev_checksum AND a.id <> r.id ORDER BY a.chain_seq LIMIT 1;
      ELSE
        SELECT a.id, a.chain_seq INTO v_twin FROM audit_logs a
         WHERE a.org_id = p_org_id AND a.prev_checksum = r.prev_checksum AND a.id <> r.id ORDER BY a.chain_seq LIMIT 1;
      END IF;
      v_fork := FOUND;
      RETURN QUERY SELECT 'link_broken'::text, r.chain_seq, r.id, v_prev, r.prev_checksum,
        CASE
          WHEN v_prev_seq IS NULL THEN 'the chain''s first row must link to the genesis value (64 zeros): rows before it were deleted, or it was inserted'
          ELSE format('prev_checksum is not the checksum of the previous row (chain_seq %s): a row was deleted, inserted or moved out between them', v_prev_seq)
        END
        || CASE WHEN v_fork THEN format('; row %s (chain_seq %s) has the same predecessor: the chain forks', v_twin.id, v_twin.chain_seq) ELSE '' END;
    END IF;
    v_prev := r.checksum;
    v_prev_known := true;
    v_prev_seq := r.chain_seq;
  END LOOP;
  CLOSE c;

  IF v_watermark > 0 THEN
    IF v_last_seq IS NULL THEN
      RETURN QUERY SELECT 'head_mismatch'::text, v_watermark, NULL::uuid, v_watermark::text, NULL::text,
        format('no row of the chain at or below the watermark %s, but the chain state''s head is %s: the rows were deleted', v_watermark, v_head);
    ELSIF v_last_seq <> v_watermark THEN
      RETURN QUERY SELECT 'head_mismatch'::text, v_watermark, NULL::uuid, v_watermark::text, v_last_seq::text,
        format('the last row at or below the watermark is chain_seq %s, but the chain state''s watermark is %s: the row at the watermark is missing (deleted tail?)', v_last_seq, v_watermark);
    ELSIF v_last_checksum IS DISTINCT FROM v_head THEN
      RETURN QUERY SELECT 'head_mismatch'::text, v_watermark, NULL::uuid, v_head, v_last_checksum,
        format('the row at the watermark (chain_seq %s) has checksum %s, but the chain state''s head is %s', v_watermark, coalesce(v_last_checksum, 'NULL'), v_head);
    END IF;
  END IF;
  IF v_count <> v_sealed_count THEN
    RETURN QUERY SELECT 'head_mismatch'::text, v_watermark, NULL::uuid, v_sealed_count::text, v_count::text,
      format('%s rows of the chain up to the watermark, but the chain state counts %s sealed: rows were deleted or inserted', v_count, v_sealed_count);
  END IF;
END
$$;
