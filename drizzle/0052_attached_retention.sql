-- Protects: rows of an attached table (format v2) leave it only as a signed,
-- exported prefix of their chain, as audit_logs' rows do (0015, 0038). Only
-- audit_chain_retain_attached_prefix() deletes, and only the retention role may
-- call it. It takes the signed checkpoint at the cut (format: the attached
-- chains' checkpoint body, v 2: schema, table, chain_key, chain_seq,
-- sealed_count, checksum, signed_at, key_id, signature; the retention command verified the
-- signature against its keyring in the same transaction) and the sinks it
-- reached, and refuses (AC010) unless: the checkpoint names this table; it
-- reached at least one sink and every sink named; its row is sealed and
-- strictly below the chain's watermark (the head row stays); the row there has
-- its checksum and its position from the chain's genesis is its sealed_count;
-- the time column the operator named is a timestamp column covered by the
-- chain (so a changed time is a verification break) and every row of the
-- chain up to the cut has a time before the limit (a NULL time is never old
-- enough). It records the cut with the signed line
-- (audit_chain_table_retention_cuts: verification starts each chain after its
-- latest cut, from the cut's checksum) and deletes the chain's rows up to and
-- including it.
-- Replaces: nothing (audit_chain_retain_prefix() of 0015 covers audit_logs only).
CREATE TABLE "audit_chain_table_retention_cuts" (
  "id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  "table_id" integer NOT NULL REFERENCES "audit_chain_tables" ("id"),
  "chain_key" text,
  "cut_seq" bigint NOT NULL,
  "checksum" text NOT NULL,
  "sealed_count" bigint NOT NULL,
  "time_column" name NOT NULL,
  "older_than" timestamptz NOT NULL,
  "key_id" text NOT NULL,
  "checkpoint" jsonb NOT NULL,
  "exported_to" jsonb NOT NULL,
  "deleted_rows" bigint,
  "created_at" timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE INDEX "audit_chain_table_retention_cuts_chain_idx" ON "audit_chain_table_retention_cuts" ("table_id", "chain_key", "cut_seq");
--> statement-breakpoint
CREATE FUNCTION "audit_chain_retain_attached_prefix"(p_table_id integer, p_time_column text, p_older_than timestamptz, p_checkpoint jsonb, p_exported_to jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  t record;
  s record;
  v_name text;
  v_rel regclass;
  v_key text;
  v_seq bigint;
  v_key_match text;
  v_type text;
  v_young_expr text;
  v_checksum text;
  v_after bigint;
  v_young bigint;
  v_id bigint;
  v_deleted bigint;
BEGIN
  SELECT * INTO t FROM audit_chain_tables x WHERE x.id = p_table_id AND x.format_version >= 2;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'retention: no attached table with id %', p_table_id USING ERRCODE = 'AC010';
  END IF;
  v_name := format('%s.%s', t.schema_name, t.table_name);
  IF t.status <> 'attached' THEN
    RAISE EXCEPTION 'retention: % is %, want attached', v_name, t.status USING ERRCODE = 'AC010';
  END IF;
  v_rel := format('%I.%I', t.schema_name, t.table_name)::regclass;
  IF jsonb_typeof(p_checkpoint) IS DISTINCT FROM 'object' OR p_checkpoint -> 'v' IS DISTINCT FROM '2'::jsonb
     OR p_checkpoint ->> 'schema' IS DISTINCT FROM t.schema_name::text
     OR p_checkpoint ->> 'table' IS DISTINCT FROM t.table_name::text
     OR jsonb_typeof(p_checkpoint -> 'chain_key') NOT IN ('string', 'null')
     OR coalesce(p_checkpoint ->> 'chain_seq', '') !~ '^[1-9][0-9]{0,18}$'
     OR coalesce(p_checkpoint ->> 'sealed_count', '') !~ '^[1-9][0-9]{0,18}$'
     OR coalesce(p_checkpoint ->> 'checksum', '') !~ '^[0-9a-f]{64}$'
     OR jsonb_typeof(p_checkpoint -> 'key_id') IS DISTINCT FROM 'string'
     OR jsonb_typeof(p_checkpoint -> 'signature') IS DISTINCT FROM 'string' THEN
    RAISE EXCEPTION 'retention: the checkpoint is not a signed checkpoint of a chain of % (v 2, schema, table, chain_key, chain_seq, sealed_count, checksum, key_id, signature)', v_name USING ERRCODE = 'AC010';
  END IF;
  v_key := p_checkpoint ->> 'chain_key';
  v_seq := (p_checkpoint ->> 'chain_seq')::bigint;
  IF jsonb_typeof(p_exported_to) IS DISTINCT FROM 'object' OR p_exported_to = '{}'::jsonb OR p_exported_to @? '$.* ? (@ == null)' THEN
    RAISE EXCEPTION 'retention: the checkpoint at chain_seq % of % has not reached every sink (exported_to %): rows are deleted only after their checkpoint is outside the database',
      v_seq, v_name, coalesce(p_exported_to::text, 'null') USING ERRCODE = 'AC010';
  END IF;

  SELECT format_type(a.atttypid, a.atttypmod) INTO v_type FROM pg_attribute a
   WHERE a.attrelid = v_rel AND a.attname = p_time_column AND a.attnum > 0 AND NOT a.attisdropped;
  IF v_type IS NULL THEN
    RAISE EXCEPTION 'retention: % has no column %: name its time column with --time-column', v_name, p_time_column USING ERRCODE = 'AC010';
  END IF;
  IF v_type LIKE 'timestamp(%) with time zone' OR v_type = 'timestamp with time zone' THEN
    v_young_expr := format('(t.%I IS NULL OR t.%I >= $3)', p_time_column, p_time_column);
  ELSIF v_type LIKE 'timestamp(%) without time zone' OR v_type = 'timestamp without time zone' THEN
    -- A time without a zone is read as UTC.
    v_young_expr := format('(t.%I IS NULL OR t.%I >= ($3 AT TIME ZONE ''UTC''))', p_time_column, p_time_column);
  ELSE
    RAISE EXCEPTION 'retention: %.% is %, want a timestamp (with or without time zone) to tell a row''s age', v_name, p_time_column, v_type USING ERRCODE = 'AC010';
  END IF;
  IF EXISTS (SELECT 1 FROM audit_chain_table_columns c
              WHERE c.table_id = t.id AND c.effective_from_seq <= v_seq
                AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(c.covered) e WHERE e ->> 'name' = p_time_column)) THEN
    RAISE EXCEPTION 'retention: %.% is not covered by the chain in every column set up to chain_seq %: a row''s age must be a value its checksum commits to',
      v_name, p_time_column, v_seq USING ERRCODE = 'AC010';
  END IF;

  SELECT * INTO s FROM audit_chain_table_state x WHERE x.table_id = t.id AND x.chain_key IS NOT DISTINCT FROM v_key FOR UPDATE;
  IF NOT FOUND OR v_seq >= s.watermark_seq THEN
    RAISE EXCEPTION 'retention: cut at chain_seq % of % chain %: got watermark %, want a cut strictly below it (the head row stays)',
      v_seq, v_name, coalesce(v_key, '(null)'), coalesce(s.watermark_seq::text, 'none') USING ERRCODE = 'AC010';
  END IF;
  v_key_match := CASE WHEN t.chain_key_column IS NULL THEN '$1::text IS NULL'
                      ELSE format('t.%I::text IS NOT DISTINCT FROM $1', t.chain_key_column) END;
  EXECUTE format('SELECT t.%I FROM %s t WHERE %s AND t.%I = $2', t.checksum_column, v_rel, v_key_match, t.seq_column)
    INTO v_checksum USING v_key, v_seq;
  IF v_checksum IS DISTINCT FROM p_checkpoint ->> 'checksum' THEN
    RAISE EXCEPTION 'retention: % chain % row chain_seq %: got checksum %, want the checkpoint''s %',
      v_name, coalesce(v_key, '(null)'), v_seq, coalesce(v_checksum, '(no sealed row)'), p_checkpoint ->> 'checksum' USING ERRCODE = 'AC010';
  END IF;
  EXECUTE format('SELECT count(*) FROM %s t WHERE %s AND t.%I > $2 AND t.%I <= $3', v_rel, v_key_match, t.seq_column, t.seq_column)
    INTO v_after USING v_key, v_seq, s.watermark_seq;
  IF s.sealed_rows - v_after <> (p_checkpoint ->> 'sealed_count')::bigint THEN
    RAISE EXCEPTION 'retention: % chain % up to chain_seq %: got % rows from genesis (state % minus % after it), want the checkpoint''s sealed_count %',
      v_name, coalesce(v_key, '(null)'), v_seq, s.sealed_rows - v_after, s.sealed_rows, v_after, p_checkpoint ->> 'sealed_count' USING ERRCODE = 'AC010';
  END IF;
  EXECUTE format('SELECT count(*) FROM %s t WHERE %s AND t.%I <= $2 AND %s', v_rel, v_key_match, t.seq_column, v_young_expr)
    INTO v_young USING v_key, v_seq, p_older_than;
  IF v_young > 0 THEN
    RAISE EXCEPTION 'retention: % chain % up to chain_seq %: got % rows whose % is at or after % (or NULL), want none',
      v_name, coalesce(v_key, '(null)'), v_seq, v_young, p_time_column, p_older_than USING ERRCODE = 'AC010';
  END IF;

  INSERT INTO audit_chain_table_retention_cuts (table_id, chain_key, cut_seq, checksum, sealed_count, time_column, older_than, key_id, checkpoint, exported_to)
  VALUES (t.id, v_key, v_seq, p_checkpoint ->> 'checksum', (p_checkpoint ->> 'sealed_count')::bigint, p_time_column, p_older_than,
          p_checkpoint ->> 'key_id', p_checkpoint, p_exported_to)
  RETURNING id INTO v_id;
  EXECUTE format('DELETE FROM %s t WHERE %s AND t.%I <= $2', v_rel, v_key_match, t.seq_column) USING v_key, v_seq;
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  UPDATE audit_chain_table_retention_cuts SET deleted_rows = v_deleted WHERE id = v_id;
  RETURN v_deleted;
END
$$;
--> statement-breakpoint
DO $$
BEGIN
  REVOKE ALL ON FUNCTION audit_chain_retain_attached_prefix(integer, text, timestamptz, jsonb, jsonb) FROM PUBLIC;
  EXECUTE format('GRANT EXECUTE ON FUNCTION audit_chain_retain_attached_prefix(integer, text, timestamptz, jsonb, jsonb) TO %I', audit_chain_role('retention'));
  EXECUTE format('GRANT SELECT ON audit_chain_tables, audit_chain_table_state, audit_chain_table_retention_cuts TO %I', audit_chain_role('retention'));
  -- Verification starts each chain after its latest cut.
  EXECUTE format('GRANT SELECT ON audit_chain_table_retention_cuts TO %I, %I', audit_chain_role('sealer'), audit_chain_role('admin'));
END
$$;
