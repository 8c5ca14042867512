-- Protects: a time-partitioned audit_logs keeps every guarantee of the plain
-- table. audit_chain_partition_convert() turns audit_logs into a table
-- partitioned by month of recorded_at, in one short transaction and without
-- rewriting a row: the existing table becomes the first partition
-- (audit_logs_p_initial, MINVALUE up to the boundary), attached through a
-- pre-built unique index (id, recorded_at) and a validated CHECK, both made
-- beforehand without blocking writers (audit-chain partition convert does all
-- of it). What each guarantee becomes:
--   * chain_seq still comes from the one sequence audit_logs_chain_seq (CACHE 1),
--     now as the column default (PostgreSQL 15 allows no identity column on a
--     partition), on the parent and on every partition, so a direct insert into a
--     partition takes it too; the writer's column privileges still exclude it;
--   * the safe horizon: an insert through the parent holds RowExclusiveLock on
--     the parent from before its nextval, one into a partition directly on that
--     partition; audit_chain_open_writers lists both (it is re-created here so
--     that it names the new parent);
--   * no fork: a unique index on a partitioned table must contain the partition
--     key, so (org_id, prev_checksum) cannot be unique across partitions that
--     way. Instead every predecessor a sealed row links to is claimed once per
--     chain in audit_chain_link_claims (unique), by a statement trigger on the
--     parent's UPDATE that sees the sealer's batch as transition tables: one
--     INSERT per sealing batch. The first partition keeps its own unique index;
--     its older links are claimed by audit-chain partition convert afterwards;
--   * append-only: the row trigger on content columns is cloned to every
--     partition by PostgreSQL; the statement triggers that refuse DELETE and
--     TRUNCATE (and check retention cuts) are created on the parent and on each
--     partition, since statement triggers of the parent do not fire for a
--     statement naming a partition;
--   * privileges stay on the parent only: a partition grants nothing.
-- audit_chain_partition_create() adds a month; a DEFAULT partition catches a
-- row beyond the last month so an insert never fails for want of a partition.
-- audit_chain_retain_partitions() drops whole old partitions for retention,
-- after checking that every row in them is covered by a checkpointed cut.
-- Replaces: audit_chain_retain_prefix() of 0015_retention_cuts, to also forget
-- the link claims of the rows it deletes.

-- The append-only statement triggers of one relation (the parent or a partition).
CREATE FUNCTION "audit_chain_partition_add_statement_triggers"(p_table regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TRIGGER "_100_audit_logs_append_only_delete" BEFORE DELETE ON %s FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_reject_delete()', p_table);
  EXECUTE format('CREATE TRIGGER "_100_audit_logs_append_only_truncate" BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_reject_delete()', p_table);
  EXECUTE format('CREATE TRIGGER "_900_audit_logs_retention_covered" AFTER DELETE ON %s REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_check_retention_cut()', p_table);
END
$$;
--> statement-breakpoint
CREATE FUNCTION "audit_logs_claim_links"() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  -- A link cleared or rewritten (the sealer clears chain values slipped into pending rows) gives its claim back.
  DELETE FROM audit_chain_link_claims c
   USING old_rows o JOIN new_rows n ON n.id = o.id AND n.chain_seq = o.chain_seq
   WHERE o.prev_checksum IS NOT NULL AND n.prev_checksum IS DISTINCT FROM o.prev_checksum
     AND c.chain_seq = o.chain_seq;
  -- A duplicate (org_id, prev_checksum) fails the sealer's statement with a unique violation: no fork.
  INSERT INTO audit_chain_link_claims (org_id, prev_checksum, chain_seq)
  SELECT n.org_id, n.prev_checksum, n.chain_seq
    FROM new_rows n JOIN old_rows o ON o.id = n.id AND o.chain_seq = n.chain_seq
   WHERE n.prev_checksum IS NOT NULL AND n.prev_checksum IS DISTINCT FROM o.prev_checksum;
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- Creates the partition of the month containing p_month (UTC) if it does not exist; returns its name.
CREATE FUNCTION "audit_chain_partition_create"(p_month date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_from timestamptz := date_trunc('month', p_month::timestamp) AT TIME ZONE 'UTC';
  v_to timestamptz := (date_trunc('month', p_month::timestamp) + interval '1 month') AT TIME ZONE 'UTC';
  v_name text := 'audit_logs_p' || to_char(p_month, 'YYYYMM');
BEGIN
  IF (SELECT relkind FROM pg_class WHERE oid = 'audit_logs'::regclass) <> 'p' THEN
    RAISE EXCEPTION 'audit_logs is not partitioned: run audit-chain partition convert first' USING ERRCODE = 'AC012';
  END IF;
  IF to_regclass(v_name) IS NOT NULL THEN
    RETURN v_name;
  END IF;
  EXECUTE format('CREATE TABLE %I PARTITION OF audit_logs FOR VALUES FROM (%L) TO (%L)', v_name, v_from, v_to);
  PERFORM audit_chain_partition_add_statement_triggers(v_name::regclass);
  RETURN v_name;
END
$$;
--> statement-breakpoint
-- Re-grants on p_to every privilege (table and column) p_from grants, and revokes them from p_from.
CREATE FUNCTION "audit_chain_partition_move_grants"(p_from regclass, p_to regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  g record;
BEGIN
  FOR g IN
    SELECT a.grantee, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a
     WHERE c.oid = p_from AND a.grantee <> c.relowner
  LOOP
    EXECUTE format('GRANT %s ON %s TO %s', g.privilege_type, p_to, CASE g.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(g.grantee::regrole::text) END);
    EXECUTE format('REVOKE %s ON %s FROM %s', g.privilege_type, p_from, CASE g.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(g.grantee::regrole::text) END);
  END LOOP;
  FOR g IN
    SELECT att.attname, a.grantee, a.privilege_type FROM pg_attribute att, aclexplode(att.attacl) a
     WHERE att.attrelid = p_from AND att.attnum > 0 AND NOT att.attisdropped AND att.attacl IS NOT NULL
  LOOP
    EXECUTE format('GRANT %s (%I) ON %s TO %s', g.privilege_type, g.attname, p_to, CASE g.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(g.grantee::regrole::text) END);
    EXECUTE format('REVOKE %s (%I) ON %s FROM %s', g.privilege_type, g.attname, p_from, CASE g.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(g.grantee::regrole::text) END);
  END LOOP;
END
$$;
--> statement-breakpoint
-- Converts the plain audit_logs into a partitioned one; the caller has built the
-- unique index audit_logs_id_recorded_at_key on (id, recorded_at) and validated
-- the CHECK audit_logs_partition_bound (recorded_at < p_boundary). Returns the
-- partitions created.
CREATE FUNCTION "audit_chain_partition_convert"(p_boundary timestamptz, p_months_ahead int) RETURNS text[]
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
  PERFORM audit_chain_partition_add_statement_triggers('audit_logs'::regclass);
  CREATE TRIGGER "_900_audit_logs_claim_links"
    AFTER UPDATE ON audit_logs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_claim_links();
  PERFORM audit_chain_partition_move_grants('audit_logs_p_initial'::regclass, 'audit_logs'::regclass);

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
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "audit_chain_retain_prefix"(p_checkpoint_id bigint, p_older_than timestamptz)
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
  v_deleted := audit_chain_delete_cut(c.org_id, c.cut_seq);
  PERFORM set_config('audit_chain.retention_cuts', '', true);
  UPDATE audit_chain_retention_cuts SET deleted_rows = v_deleted WHERE id = v_cut;
  RETURN v_deleted;
END
$$;
--> statement-breakpoint
-- Deletes a chain's rows up to a cut (the caller has named the cut in
-- audit_chain.retention_cuts), and what hangs off them: legacy links, link claims.
CREATE FUNCTION "audit_chain_delete_cut"(p_org_id uuid, p_cut_seq bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_deleted bigint;
BEGIN
  IF p_org_id IS NULL THEN
    WITH d AS (DELETE FROM audit_logs WHERE org_id IS NULL AND chain_seq <= p_cut_seq RETURNING chain_seq)
    SELECT count(*) INTO v_deleted FROM d;
    DELETE FROM audit_chain_legacy_links WHERE org_id IS NULL AND chain_seq <= p_cut_seq;
    DELETE FROM audit_chain_link_claims WHERE org_id IS NULL AND chain_seq <= p_cut_seq;
  ELSE
    WITH d AS (DELETE FROM audit_logs WHERE org_id = p_org_id AND chain_seq <= p_cut_seq RETURNING chain_seq)
    SELECT count(*) INTO v_deleted FROM d;
    DELETE FROM audit_chain_legacy_links WHERE org_id = p_org_id AND chain_seq <= p_cut_seq;
    DELETE FROM audit_chain_link_claims WHERE org_id = p_org_id AND chain_seq <= p_cut_seq;
  END IF;
  RETURN v_deleted;
END
$$;
--> statement-breakpoint
-- Retention by whole partitions: records a cut for each checkpoint, checks that
-- every row of each partition is at or below its chain's cut (and the partition
-- ends before p_older_than), drops the partitions, then deletes what else lies
-- at or below the cuts in other partitions (rows that crossed a month boundary).
-- Returns the rows deleted outside the dropped partitions.
CREATE FUNCTION "audit_chain_retain_partitions"(p_checkpoint_ids bigint[], p_partitions text[], p_older_than timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  v_cuts bigint[] := '{}';
  v_id bigint;
  v_part text;
  v_bound text;
  v_upper timestamptz;
  v_stray record;
  c record;
  v_deleted bigint := 0;
BEGIN
  PERFORM set_config('lock_timeout', '5s', true);
  FOREACH v_id IN ARRAY p_checkpoint_ids LOOP
    v_cuts := v_cuts || audit_chain_record_retention_cut(v_id, p_older_than);
  END LOOP;
  PERFORM set_config('audit_chain.retention_cuts', v_cuts::text, true);
  FOREACH v_part IN ARRAY p_partitions LOOP
    SELECT pg_get_expr(c2.relpartbound, c2.oid) INTO v_bound
      FROM pg_inherits i JOIN pg_class c2 ON c2.oid = i.inhrelid
     WHERE i.inhparent = 'audit_logs'::regclass AND c2.oid = to_regclass(v_part);
    IF v_bound IS NULL OR v_bound = 'DEFAULT' THEN
      RAISE EXCEPTION 'retention: % is not a monthly partition of audit_logs', v_part USING ERRCODE = 'AC012';
    END IF;
    v_upper := substring(v_bound FROM 'TO \(''([^'']+)''\)')::timestamptz;
    IF v_upper IS NULL OR v_upper > p_older_than THEN
      RAISE EXCEPTION 'retention: partition % (%) ends after %: want only partitions older than the limit', v_part, v_bound, p_older_than USING ERRCODE = 'AC012';
    END IF;
    EXECUTE format(
      'SELECT p.org_id, max(p.chain_seq) AS last_seq FROM %s p GROUP BY p.org_id
        HAVING NOT EXISTS (SELECT 1 FROM audit_chain_retention_cuts k
                            WHERE k.id = ANY ($1) AND k.org_id IS NOT DISTINCT FROM p.org_id AND max(p.chain_seq) <= k.cut_seq)
        LIMIT 1', v_part::regclass) INTO v_stray USING v_cuts;
    IF v_stray IS NOT NULL THEN
      RAISE EXCEPTION 'retention: partition % holds chain % up to chain_seq %, beyond any cut given: want a checkpointed cut at or above it',
        v_part, coalesce(v_stray.org_id::text, 'system'), v_stray.last_seq USING ERRCODE = 'AC012';
    END IF;
    EXECUTE format('ALTER TABLE audit_logs DETACH PARTITION %s', v_part::regclass);
    EXECUTE format('DROP TABLE %s', v_part::regclass);
  END LOOP;
  FOR c IN SELECT * FROM audit_chain_retention_cuts WHERE id = ANY (v_cuts) LOOP
    v_deleted := v_deleted + audit_chain_delete_cut(c.org_id, c.cut_seq);
  END LOOP;
  PERFORM set_config('audit_chain.retention_cuts', '', true);
  UPDATE audit_chain_retention_cuts SET dropped_partitions = p_partitions WHERE id = ANY (v_cuts);
  RETURN v_deleted;
END
$$;
--> statement-breakpoint
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION audit_logs_claim_links() SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION audit_chain_retain_partitions(bigint[], text[], timestamptz) SET search_path = %I, pg_temp', current_schema());
  -- CREATE OR REPLACE dropped the setting 0015 gave it.
  EXECUTE format('ALTER FUNCTION audit_chain_retain_prefix(bigint, timestamptz) SET search_path = %I, pg_temp', current_schema());
  REVOKE ALL ON FUNCTION audit_logs_claim_links() FROM PUBLIC;
  REVOKE ALL ON FUNCTION audit_chain_delete_cut(uuid, bigint) FROM PUBLIC;
  REVOKE ALL ON FUNCTION audit_chain_retain_partitions(bigint[], text[], timestamptz) FROM PUBLIC;
  REVOKE ALL ON FUNCTION audit_chain_partition_convert(timestamptz, int) FROM PUBLIC;
  REVOKE ALL ON FUNCTION audit_chain_partition_create(date) FROM PUBLIC;
  REVOKE ALL ON FUNCTION audit_chain_partition_move_grants(regclass, regclass) FROM PUBLIC;
  REVOKE ALL ON FUNCTION audit_chain_partition_add_statement_triggers(regclass) FROM PUBLIC;
  EXECUTE format('GRANT EXECUTE ON FUNCTION audit_chain_retain_partitions(bigint[], text[], timestamptz) TO %I', audit_chain_role('retention'));
END
$$;
