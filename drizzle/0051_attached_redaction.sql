-- Protects: personal data can be erased from sealed rows of attached tables
-- (format v2, `audit-chain attach --pii`) and the chain still verifies. A row's
-- personal columns are committed through its salted pii digest, not the
-- checksum input, so erasing them together with the salt leaves the digest and
-- the links intact. Only audit_chain_redact_attached() erases, and only the
-- redactor role may call it. It refuses (AC011) a pending row (its digest must
-- commit to the values first), a row already redacted, a column that is not
-- personal in the row's covered-column revision (content stays covered by the
-- checksum), a personal column left out that still holds a value (the erased
-- salt covers all of them together), a personal column the product declared
-- NOT NULL (erasing writes NULL), and a table that is not attached or drifted.
-- It records the redaction marker (audit_chain_table_redactions: verification
-- reads a row as redacted exactly when it has one) and an audit row in our own
-- audit_logs' system chain (action audit_log.redact, the table, chain and
-- chain_seq, the fields, the reason; never the erased values).
-- Replaces: nothing (audit_chain_redact() of 0016 covers audit_logs only).
CREATE TABLE "audit_chain_table_redactions" (
  "table_id" integer NOT NULL REFERENCES "audit_chain_tables" ("id"),
  "chain_seq" bigint NOT NULL,
  "chain_key" text,
  "fields" text[] NOT NULL,
  "reason" text,
  "redacted_by" text NOT NULL,
  "redacted_at" timestamptz NOT NULL DEFAULT now(),
  "audit_row_id" uuid NOT NULL,
  PRIMARY KEY ("table_id", "chain_seq")
);
--> statement-breakpoint
CREATE FUNCTION "audit_chain_redact_attached"(p_table_id integer, p_by text, p_value text, p_fields text[], p_reason text)
RETURNS TABLE (chain_seq bigint, chain_key text, erased text[], audit_row_id uuid, audit_chain_seq bigint)
LANGUAGE plpgsql SECURITY DEFINER AS $$
#variable_conflict use_column
DECLARE
  t record;
  v_name text;
  v_rel regclass;
  v_covered jsonb;
  v_personal text[];
  v_fields text[];
  v_stray text[];
  v_pk text[];
  v_where text;
  v_key_expr text;
  v_held_expr text;
  v_row record;
  v_rows int;
  v_watermark bigint;
  v_left text[];
  v_not_null text[];
  v_audit record;
BEGIN
  SELECT * INTO t FROM audit_chain_tables x WHERE x.id = p_table_id AND x.format_version >= 2;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'redact: no attached table with id %', p_table_id USING ERRCODE = 'AC011';
  END IF;
  v_name := format('%s.%s', t.schema_name, t.table_name);
  IF t.status <> 'attached' THEN
    RAISE EXCEPTION 'redact: % is %, want attached (a drifted table is confirmed with attach --refresh first)', v_name, t.status USING ERRCODE = 'AC011';
  END IF;
  v_rel := format('%I.%I', t.schema_name, t.table_name)::regclass;
  IF p_by = 'chain_seq' THEN
    v_where := format('t.%I = $1::bigint', t.seq_column);
  ELSIF p_by = 'id' THEN
    SELECT array_agg(a.attname::text ORDER BY k.n) INTO v_pk
      FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = v_rel AND i.indisprimary;
    IF cardinality(v_pk) IS DISTINCT FROM 1 THEN
      RAISE EXCEPTION 'redact: % has a primary key of % columns: --id needs a one-column key, select the row by --seq instead', v_name, coalesce(cardinality(v_pk), 0) USING ERRCODE = 'AC011';
    END IF;
    v_where := format('t.%I::text = $1', v_pk[1]);
  ELSE
    RAISE EXCEPTION 'redact: select the row by chain_seq or id, got %', p_by USING ERRCODE = 'AC011';
  END IF;
  v_key_expr := CASE WHEN t.chain_key_column IS NULL THEN 'NULL::text' ELSE format('t.%I::text', t.chain_key_column) END;

  EXECUTE format('SELECT count(*) FROM %s t WHERE %s', v_rel, v_where) INTO v_rows USING p_value;
  IF v_rows <> 1 THEN
    RAISE EXCEPTION 'redact: % row %=%: got % rows, want exactly one', v_name, p_by, p_value, v_rows USING ERRCODE = 'AC011';
  END IF;
  EXECUTE format('SELECT t.%I AS chain_seq, %s AS chain_key, t.%I AS checksum FROM %s t WHERE %s FOR UPDATE',
                 t.seq_column, v_key_expr, t.checksum_column, v_rel, v_where)
    INTO v_row USING p_value;

  -- The covered columns of the row's revision, and which of them are personal.
  SELECT c.covered INTO v_covered FROM audit_chain_table_columns c
   WHERE c.table_id = t.id AND c.effective_from_seq <= v_row.chain_seq
   ORDER BY c.effective_from_seq DESC, c.revision DESC LIMIT 1;
  SELECT coalesce(array_agg(e ->> 'name' ORDER BY n), '{}') INTO v_personal
    FROM jsonb_array_elements(coalesce(v_covered, '[]')) WITH ORDINALITY AS x(e, n) WHERE (e ->> 'personal')::boolean;
  IF cardinality(v_personal) = 0 THEN
    RAISE EXCEPTION 'redact: % has no personal column (attach --pii names them): nothing can be erased without breaking the chain', v_name USING ERRCODE = 'AC011';
  END IF;
  v_fields := coalesce(nullif(p_fields, '{}'), v_personal);
  SELECT coalesce(array_agg(f), '{}') INTO v_stray FROM unnest(v_fields) f WHERE NOT (f = ANY (v_personal));
  IF cardinality(v_stray) > 0 THEN
    RAISE EXCEPTION 'redact: % of % is not personal (personal: %): content columns stay covered by the checksum and cannot be erased',
      array_to_string(v_stray, ', '), v_name, array_to_string(v_personal, ', ') USING ERRCODE = 'AC011';
  END IF;

  IF EXISTS (SELECT 1 FROM audit_chain_table_redactions r WHERE r.table_id = t.id AND r.chain_seq = v_row.chain_seq) THEN
    RAISE EXCEPTION 'redact: % row chain_seq % is already redacted', v_name, v_row.chain_seq USING ERRCODE = 'AC011';
  END IF;
  SELECT s.watermark_seq INTO v_watermark FROM audit_chain_table_state s WHERE s.table_id = t.id AND s.chain_key IS NOT DISTINCT FROM v_row.chain_key;
  IF v_row.checksum IS NULL OR v_watermark IS NULL OR v_row.chain_seq > v_watermark THEN
    RAISE EXCEPTION 'redact: % row chain_seq % is pending: got watermark %, want the row sealed first (its pii digest must commit to the values before they go)',
      v_name, v_row.chain_seq, coalesce(v_watermark::text, 'none') USING ERRCODE = 'AC011';
  END IF;

  -- The personal columns that hold a value.
  SELECT 'array_remove(ARRAY[' || string_agg(format('CASE WHEN t.%I IS NOT NULL THEN %L END', p, p), ', ') || ']::text[], NULL)'
    INTO v_held_expr FROM unnest(v_personal) p;
  EXECUTE format('SELECT %s FROM %s t WHERE t.%I = $1', v_held_expr, v_rel, t.seq_column) INTO v_left USING v_row.chain_seq;
  v_fields := v_left;
  SELECT coalesce(array_agg(f), '{}') INTO v_left FROM unnest(v_left) f WHERE NOT (f = ANY (coalesce(nullif(p_fields, '{}'), v_personal)));
  IF cardinality(v_left) > 0 THEN
    RAISE EXCEPTION 'redact: % row chain_seq % still holds %, which the request leaves: the erased salt covers all personal columns together, so want them in the list too',
      v_name, v_row.chain_seq, array_to_string(v_left, ', ') USING ERRCODE = 'AC011';
  END IF;
  SELECT coalesce(array_agg(a.attname::text), '{}') INTO v_not_null
    FROM pg_attribute a WHERE a.attrelid = v_rel AND a.attnotnull AND a.attname::text = ANY (v_fields);
  IF cardinality(v_not_null) > 0 THEN
    RAISE EXCEPTION 'redact: % declares % NOT NULL: erasing writes NULL, so drop that constraint first (ALTER TABLE ... ALTER COLUMN ... DROP NOT NULL)',
      v_name, array_to_string(v_not_null, ', ') USING ERRCODE = 'AC011';
  END IF;

  INSERT INTO audit_logs (org_id, actor_type, actor_id, action, resource_type, resource_id, details)
  VALUES (NULL, 'operator', session_user, 'audit_log.redact', 'attached_row', format('%s:%s', v_name, v_row.chain_seq),
          jsonb_strip_nulls(jsonb_build_object('table', v_name, 'chain_key', v_row.chain_key, 'chain_seq', v_row.chain_seq::text,
                                               'fields', to_jsonb(v_fields), 'reason', p_reason)))
  RETURNING id, audit_logs.chain_seq INTO v_audit;
  INSERT INTO audit_chain_table_redactions (table_id, chain_seq, chain_key, fields, reason, redacted_by, audit_row_id)
  VALUES (t.id, v_row.chain_seq, v_row.chain_key, v_fields, p_reason, session_user, v_audit.id);
  EXECUTE format('UPDATE %s t SET %s, %I = NULL WHERE t.%I = $1', v_rel,
                 (SELECT string_agg(format('%I = NULL', p), ', ') FROM unnest(v_personal) p), t.pii_salt_column, t.seq_column)
    USING v_row.chain_seq;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  IF v_rows <> 1 THEN
    RAISE EXCEPTION 'redact: % row chain_seq %: the erasure updated % rows, want 1 (can the owner of audit-chain''s functions update the table under its row-level security?)',
      v_name, v_row.chain_seq, v_rows USING ERRCODE = 'AC011';
  END IF;
  RETURN QUERY SELECT v_row.chain_seq, v_row.chain_key, v_fields, v_audit.id, v_audit.chain_seq;
END
$$;
--> statement-breakpoint
DO $$
BEGIN
  REVOKE ALL ON FUNCTION audit_chain_redact_attached(integer, text, text, text[], text) FROM PUBLIC;
  EXECUTE format('GRANT EXECUTE ON FUNCTION audit_chain_redact_attached(integer, text, text, text[], text) TO %I', audit_chain_role('redactor'));
  EXECUTE format('GRANT SELECT ON audit_chain_tables, audit_chain_table_redactions TO %I', audit_chain_role('redactor'));
  -- Verification reads the markers with the rows.
  EXECUTE format('GRANT SELECT ON audit_chain_table_redactions TO %I, %I', audit_chain_role('sealer'), audit_chain_role('admin'));
END
$$;
