-- Protects: audit_log_verify_chain() keeps checking chains whose new rows are
-- sealed under format v2 (checksum_version 2, docs/chain-format.md "Format v2")
-- while their older rows stay version 1. Links do not depend on the version, so
-- the walk is unchanged; only the version check now knows both 1 and 2 and
-- reports any other value (or NULL on a sealed row) as unknown_version.
-- Replaces: audit_log_verify_chain() of 0020_verify_chain_after_retention (same
-- signature and result columns, every other check kept), which reported every
-- version 2 row as unknown_version.
CREATE OR REPLACE FUNCTION "audit_log_verify_chain"(p_org_id uuid)
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
  v_cut record;
  v_has_cut boolean;
  -- Rows read by the walk: all of the chain without a cut, those after it with one.
  v_from bigint := -9223372036854775808;
  -- Rows before the first row read: the cut's position from genesis.
  v_base bigint := 0;
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

  -- The chain's latest retention cut: the walk starts after it.
  IF p_org_id IS NULL THEN
    SELECT k.id, k.cut_seq, k.checksum, k.sealed_count INTO v_cut
      FROM audit_chain_retention_cuts k WHERE k.org_id IS NULL ORDER BY k.org_id, k.cut_seq DESC, k.id DESC LIMIT 1;
  ELSE
    SELECT k.id, k.cut_seq, k.checksum, k.sealed_count INTO v_cut
      FROM audit_chain_retention_cuts k WHERE k.org_id = p_org_id ORDER BY k.cut_seq DESC, k.id DESC LIMIT 1;
  END IF;
  v_has_cut := FOUND;
  IF v_has_cut THEN
    v_prev := v_cut.checksum;
    v_base := v_cut.sealed_count;
    v_from := v_cut.cut_seq + 1;
    -- Rows the cut deleted must be gone: any still there is hidden from the walk.
    IF p_org_id IS NULL THEN
      OPEN c FOR SELECT a.id, a.chain_seq, a.checksum
        FROM audit_logs a WHERE a.org_id IS NULL AND a.chain_seq <= v_cut.cut_seq ORDER BY a.org_id, a.chain_seq;
    ELSE
      OPEN c FOR SELECT a.id, a.chain_seq, a.checksum
        FROM audit_logs a WHERE a.org_id = p_org_id AND a.chain_seq <= v_cut.cut_seq ORDER BY a.chain_seq;
    END IF;
    LOOP
      FETCH c INTO r;
      EXIT WHEN NOT FOUND;
      RETURN QUERY SELECT 'row_below_cut'::text, r.chain_seq, r.id, format('no row at or below chain_seq %s', v_cut.cut_seq), r.chain_seq::text,
        format('the row is at or below retention cut %s (chain_seq %s), whose rows were deleted: it was put back, or the cut record was forged to hide it', v_cut.id, v_cut.cut_seq);
    END LOOP;
    CLOSE c;
  END IF;

  IF p_org_id IS NULL THEN
    OPEN c FOR SELECT a.id, a.chain_seq, a.prev_checksum, a.checksum, a.checksum_version
      FROM audit_logs a WHERE a.org_id IS NULL AND a.chain_seq >= v_from AND a.chain_seq <= v_watermark ORDER BY a.org_id, a.chain_seq;
  ELSE
    OPEN c FOR SELECT a.id, a.chain_seq, a.prev_checksum, a.checksum, a.checksum_version
      FROM audit_logs a WHERE a.org_id = p_org_id AND a.chain_seq >= v_from AND a.chain_seq <= v_watermark ORDER BY a.chain_seq;
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
    IF r.checksum_version IS NULL OR r.checksum_version NOT IN (1, 2) THEN
      RETURN QUERY SELECT 'unknown_version'::text, r.chain_seq, r.id, '1 or 2'::text, r.checksum_version::text,
        format('checksum_version %s is not one this function knows (1 or 2)', coalesce(r.checksum_version::text, 'NULL'));
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
          WHEN v_prev_seq IS NULL AND v_has_cut THEN format('the first row after retention cut %s (chain_seq %s) must link to the checksum of the last row it deleted: rows after the cut were deleted, or this one was inserted or changed', v_cut.id, v_cut.cut_seq)
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
        CASE WHEN v_has_cut
          THEN format('no row of the chain after retention cut %s (chain_seq %s) and at or below the watermark %s, but the chain state''s head is %s: the rows were deleted', v_cut.id, v_cut.cut_seq, v_watermark, v_head)
          ELSE format('no row of the chain at or below the watermark %s, but the chain state''s head is %s: the rows were deleted', v_watermark, v_head)
        END;
    ELSIF v_last_seq <> v_watermark THEN
      RETURN QUERY SELECT 'head_mismatch'::text, v_watermark, NULL::uuid, v_watermark::text, v_last_seq::text,
        format('the last row at or below the watermark is chain_seq %s, but the chain state''s watermark is %s: the row at the watermark is missing (deleted tail?)', v_last_seq, v_watermark);
    ELSIF v_last_checksum IS DISTINCT FROM v_head THEN
      RETURN QUERY SELECT 'head_mismatch'::text, v_watermark, NULL::uuid, v_head, v_last_checksum,
        format('the row at the watermark (chain_seq %s) has checksum %s, but the chain state''s head is %s', v_watermark, coalesce(v_last_checksum, 'NULL'), v_head);
    END IF;
  END IF;
  IF v_base + v_count <> v_sealed_count THEN
    RETURN QUERY SELECT 'head_mismatch'::text, v_watermark, NULL::uuid, v_sealed_count::text, (v_base + v_count)::text,
      CASE WHEN v_has_cut
        THEN format('retention cut %s counts %s rows from genesis up to chain_seq %s and %s rows follow it up to the watermark, %s in all, but the chain state counts %s sealed: rows were deleted or inserted', v_cut.id, v_base, v_cut.cut_seq, v_count, v_base + v_count, v_sealed_count)
        ELSE format('%s rows of the chain up to the watermark, but the chain state counts %s sealed: rows were deleted or inserted', v_count, v_sealed_count)
      END;
  END IF;
END
$$;
