-- Protects: once a row is sealed its chain columns (prev_checksum, checksum,
-- checksum_version, pii_digest, pii_salt) change only through the documented
-- paths, never by a plain UPDATE of any role, the sealer's included:
--   * erasure: pii_salt set to NULL, every other chain column kept, in the
--     transaction that recorded the row's redaction marker (audit_chain_redact(),
--     0016_erasure; the content trigger checks the personal fields);
--   * clearing values slipped into a pending row: a row above its chain's
--     watermark is not sealed, and the sealer clears such values before it seals.
-- Anything else fails with AC021, for a row at or below its chain's watermark.
-- The trigger fires only when the old row has a checksum (WHEN, evaluated without
-- calling the function), so sealing a pending row pays nothing for it. A
-- superuser or the owner can still drop the trigger: the chain and the signed
-- checkpoints, not this trigger, are what catches a rewrite (docs/threat-model.md).
-- Replaces: audit_chain_partition_convert() of 0019_partition_sequence_usage,
-- to carry the new row trigger to the partitioned table it creates (every other
-- line is unchanged).
CREATE FUNCTION "audit_logs_reject_sealed_link_change"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_watermark bigint;
BEGIN
  IF (NEW.prev_checksum, NEW.checksum, NEW.checksum_version, NEW.pii_digest, NEW.pii_salt)
     IS NOT DISTINCT FROM (OLD.prev_checksum, OLD.checksum, OLD.checksum_version, OLD.pii_digest, OLD.pii_salt) THEN
    RETURN NEW;
  END IF;
  IF NEW.pii_salt IS NULL
     AND (NEW.prev_checksum, NEW.checksum, NEW.checksum_version, NEW.pii_digest)
         IS NOT DISTINCT FROM (OLD.prev_checksum, OLD.checksum, OLD.checksum_version, OLD.pii_digest)
     AND EXISTS (SELECT 1 FROM audit_chain_redactions r
                  WHERE r.chain_seq = OLD.chain_seq AND r.row_id = OLD.id
                    AND r.xact_id = pg_current_xact_id()::text::bigint) THEN
    RETURN NEW;
  END IF;
  IF OLD.org_id IS NULL THEN
    SELECT s.watermark_seq INTO v_watermark FROM audit_chain_state s WHERE s.org_id IS NULL;
  ELSE
    SELECT s.watermark_seq INTO v_watermark FROM audit_chain_state s WHERE s.org_id = OLD.org_id;
  END IF;
  IF v_watermark IS NOT NULL AND OLD.chain_seq > v_watermark THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_logs: the chain columns of sealed row % (chain_seq %, watermark %) cannot be changed', OLD.id, OLD.chain_seq, coalesce(v_watermark::text, 'none')
    USING ERRCODE = 'AC021',
          HINT = 'A sealed row''s links change only by erasure (audit-chain redact).';
END
$$;
--> statement-breakpoint
CREATE TRIGGER "_100_audit_logs_sealed_links"
  BEFORE UPDATE OF prev_checksum, checksum, checksum_version, pii_digest, pii_salt
  ON "audit_logs"
  FOR EACH ROW WHEN (OLD.checksum IS NOT NULL)
  EXECUTE FUNCTION "audit_logs_reject_sealed_link_change"();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "audit_chain_partition_convert"(p_boundary timestamptz, p_months_ahead int) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
  v_views record;
  v_saved jsonb := '[]';
  v_last bigint;
  v_called boolean;
  v_seq_grants jsonb;
  g record;
  v_index record;
  v_created text[] := '{}';
  v_month date;
BEGIN
  IF (SELECT relkind FROM pg_class WHERE oid = 'audit_logs'::regclass) = 'p' THEN
    RAISE EXCEPTION 'audit_logs is already partitioned' USING ERRCODE = 'AC012';
  END IF;
  IF date_trunc('month', p_boundary AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' <> p_boundary THEN
    RAISE EXCEPTION 'partition boundary %: want the first instant of a month (UTC)', p_boundary USING ERRCODE = 'AC012';
  END IF;
  LOCK TABLE audit_logs IN ACCESS EXCLUSIVE MODE;
  IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                  WHERE i.indrelid = 'audit_logs'::regclass AND c.relname = 'audit_logs_id_recorded_at_key' AND i.indisunique AND i.indisvalid) THEN
    RAISE EXCEPTION 'audit_logs has no valid unique index audit_logs_id_recorded_at_key on (id, recorded_at): build it first (CREATE UNIQUE INDEX CONCURRENTLY)'
      USING ERRCODE = 'AC012';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'audit_logs'::regclass AND conname = 'audit_logs_partition_bound' AND convalidated
                    AND pg_get_constraintdef(oid) = format('CHECK ((recorded_at < %L::timestamp with time zone))', p_boundary)) THEN
    RAISE EXCEPTION 'audit_logs has no validated CHECK audit_logs_partition_bound (recorded_at < %): add and validate it first', p_boundary
      USING ERRCODE = 'AC012';
  END IF;

  -- Views name audit_logs by OID: keep their text, re-create them on the new parent.
  FOR v_views IN
    SELECT DISTINCT c.oid, c.relname, n.nspname
      FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = 'audit_logs'::regclass AND c.oid <> 'audit_logs'::regclass
  LOOP
    v_saved := v_saved || jsonb_build_object('name', format('%I.%I', v_views.nspname, v_views.relname), 'sql', pg_get_viewdef(v_views.oid));
  END LOOP;

  -- The sequence outlives the identity column it belonged to, with its position and grants.
  SELECT last_value, is_called INTO v_last, v_called FROM audit_logs_chain_seq;
  SELECT coalesce(jsonb_agg(jsonb_build_object('grantee', a.grantee, 'privilege', a.privilege_type)), '[]') INTO v_seq_grants
    FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = 'audit_logs_chain_seq'::regclass AND a.grantee <> c.relowner;
  ALTER TABLE audit_logs ALTER COLUMN chain_seq DROP IDENTITY;
  CREATE SEQUENCE audit_logs_chain_seq AS bigint CACHE 1;
  PERFORM setval('audit_logs_chain_seq', v_last, v_called);
  FOR g IN SELECT * FROM jsonb_to_recordset(v_seq_grants) AS x(grantee oid, privilege text) LOOP
    EXECUTE format('GRANT %s ON SEQUENCE audit_logs_chain_seq TO %s', g.privilege, CASE g.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(g.grantee::regrole::text) END);
  END LOOP;
  ALTER TABLE audit_logs ALTER COLUMN chain_seq SET DEFAULT nextval('audit_logs_chain_seq');

  -- The table becomes the first partition: its names move aside, its row trigger is cloned back from the parent.
  ALTER TABLE audit_logs RENAME TO audit_logs_p_initial;
  DROP TRIGGER "_100_audit_logs_append_only_update" ON audit_logs_p_initial;
  DROP TRIGGER "_100_audit_logs_sealed_links" ON audit_logs_p_initial;
  ALTER TABLE audit_logs_p_initial DROP CONSTRAINT audit_logs_pkey;
  ALTER TABLE audit_logs_p_initial ADD CONSTRAINT audit_logs_p_initial_pkey PRIMARY KEY USING INDEX audit_logs_id_recorded_at_key;
  FOR v_index IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                  WHERE i.indrelid = 'audit_logs_p_initial'::regclass AND c.relname LIKE 'audit\_logs\_%' AND c.relname NOT LIKE 'audit\_logs\_p\_initial%' LOOP
    EXECUTE format('ALTER INDEX %I RENAME TO %I', v_index.relname, 'audit_logs_p_initial' || substr(v_index.relname, length('audit_logs') + 1));
  END LOOP;

  CREATE TABLE audit_logs (LIKE audit_logs_p_initial INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE) PARTITION BY RANGE (recorded_at);
  ALTER TABLE audit_logs DROP CONSTRAINT audit_logs_partition_bound;
  ALTER SEQUENCE audit_logs_chain_seq OWNED BY audit_logs.chain_seq;
  ALTER TABLE audit_logs ADD CONSTRAINT audit_logs_pkey PRIMARY KEY (id, recorded_at);
  CREATE INDEX audit_logs_org_chain_seq_idx ON audit_logs (org_id, chain_seq);
  CREATE INDEX audit_logs_chain_seq_brin ON audit_logs USING brin (chain_seq);
  EXECUTE format('ALTER TABLE audit_logs ATTACH PARTITION audit_logs_p_initial FOR VALUES FROM (MINVALUE) TO (%L)', p_boundary);
  ALTER TABLE audit_logs_p_initial DROP CONSTRAINT audit_logs_partition_bound;

  CREATE TRIGGER "_100_audit_logs_append_only_update"
    BEFORE UPDATE OF id, org_id, chain_seq, occurred_at, recorded_at, actor_type, actor_id,
      actor_email, action, resource_type, resource_id, resource_name, details, ip_address,
      user_agent, result, error_message
    ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_reject_content_change();
  CREATE TRIGGER "_100_audit_logs_sealed_links"
    BEFORE UPDATE OF prev_checksum, checksum, checksum_version, pii_digest, pii_salt
    ON audit_logs
    FOR EACH ROW WHEN (OLD.checksum IS NOT NULL)
    EXECUTE FUNCTION audit_logs_reject_sealed_link_change();
  PERFORM audit_chain_partition_add_statement_triggers('audit_logs'::regclass);
  CREATE TRIGGER "_900_audit_logs_claim_links"
    AFTER UPDATE ON audit_logs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_claim_links();
  PERFORM audit_chain_partition_move_grants('audit_logs_p_initial'::regclass, 'audit_logs'::regclass);
  -- A column default's nextval is checked against the inserting role (an identity column's is not):
  -- whoever may insert gets USAGE on the sequence. USAGE cannot move it (setval needs UPDATE), and a
  -- value taken outside an insert is only a gap: the writer still cannot insert a chain_seq of its own.
  FOR g IN
    SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
     WHERE c.oid = 'audit_logs'::regclass AND a.privilege_type = 'INSERT' AND a.grantee <> c.relowner
    UNION
    SELECT DISTINCT a.grantee FROM pg_attribute att, aclexplode(att.attacl) a
     WHERE att.attrelid = 'audit_logs'::regclass AND att.attacl IS NOT NULL AND a.privilege_type = 'INSERT'
  LOOP
    EXECUTE format('GRANT USAGE ON SEQUENCE audit_logs_chain_seq TO %s', CASE g.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(g.grantee::regrole::text) END);
  END LOOP;

  FOR g IN SELECT * FROM jsonb_to_recordset(v_saved) AS x(name text, sql text) LOOP
    EXECUTE format('CREATE OR REPLACE VIEW %s AS %s', g.name, g.sql);
  END LOOP;

  EXECUTE format('CREATE TABLE audit_logs_pdefault PARTITION OF audit_logs DEFAULT');
  PERFORM audit_chain_partition_add_statement_triggers('audit_logs_pdefault'::regclass);
  v_created := v_created || 'audit_logs_p_initial'::text || 'audit_logs_pdefault'::text;
  FOR i IN 0 .. greatest(p_months_ahead, 0) LOOP
    v_month := (p_boundary AT TIME ZONE 'UTC')::date + make_interval(months => i);
    v_created := v_created || audit_chain_partition_create(v_month);
  END LOOP;
  RETURN v_created;
END
$$;
