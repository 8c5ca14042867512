-- Protects: retention and erasure hold on a Citus cluster as on one server,
-- where audit_logs' rows live on workers' shards and their append-only
-- triggers run there (docs/scaling.md#citus):
--   * "this transaction" is recognised on every node: a redaction marker
--     records audit_chain_xact_token(), which is the transaction id on one
--     server and, in a Citus distributed transaction, a digest of its
--     distributed transaction id (initiator node, number, start time), which
--     the coordinator hands to every worker it involves (the start time as a
--     number: its text would follow each session's TimeZone, and a worker's
--     session need not have the client's, tried). The append-only
--     triggers compare the same token, so an erasure passes on the shard only
--     in the transaction that recorded its marker, as before;
--   * the retention cuts of the transaction are named with SET LOCAL, which
--     Citus sends to every worker of the transaction (with
--     citus.propagate_set_commands = local, set locally for that statement
--     only), instead of set_config(), which stays on the coordinator; the cuts
--     table itself is made a reference table by `audit-chain citus distribute`
--     (a copy on every node, read by the shards' trigger);
--   * the statement trigger that checks the deleted rows against the named
--     cuts reads the cuts first, then the transition table on its own: Citus
--     plans a query that reads one of its tables (the cuts are a reference
--     table there) and cannot plan one that also reads a transition table
--     ("unrecognized RTE kind: 7", tried);
--   * audit_chain_redact() locks and updates the row through its chain key
--     (org_id) as well as its id, so each statement is routed to the row's
--     shard (Citus runs SELECT ... FOR UPDATE on a single shard only).
-- On one server every check of 0015, 0016, 0036 and 0038 stays as it was.
-- Replaces: audit_logs_reject_content_change() and audit_chain_redact() of
-- 0016_erasure, audit_logs_check_retention_cut() of 0015_retention_cuts,
-- audit_logs_reject_sealed_link_change() of 0036_sealed_links,
-- audit_chain_retain_prefix() of 0018_partitioning.
CREATE FUNCTION "audit_chain_xact_token"() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  t record;
BEGIN
  IF to_regprocedure('pg_catalog.get_current_transaction_id()') IS NOT NULL THEN
    EXECUTE 'SELECT initiator_node_identifier, transaction_number, transaction_stamp FROM pg_catalog.get_current_transaction_id()' INTO t;
    IF t.transaction_number IS NOT NULL AND t.transaction_number > 0 THEN
      -- The start time as microseconds since the epoch: its text form would follow each session's TimeZone.
      RETURN ('x' || substr(md5(format('citus:%s:%s:%s', t.initiator_node_identifier, t.transaction_number,
                                       (extract(epoch FROM t.transaction_stamp) * 1000000)::bigint)), 1, 16))::bit(64)::bigint;
    END IF;
  END IF;
  RETURN pg_current_xact_id()::text::bigint;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "audit_logs_reject_content_change"()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
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
                          AND r.xact_id = audit_chain_xact_token())))
  THEN
    RAISE EXCEPTION 'audit_logs is append-only: the content of row % (chain_seq %) cannot be changed', OLD.id, OLD.chain_seq
      USING ERRCODE = 'AC001',
            HINT = 'Only the chain columns may be written after insert, by the sealer; personal fields are erased only by audit-chain redact.';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "audit_logs_reject_sealed_link_change"() RETURNS trigger
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
                    AND r.xact_id = audit_chain_xact_token()) THEN
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
-- As 0016's, but the row is found by id once (any shard), then locked and
-- updated through (org_id, id): one shard on Citus.
CREATE OR REPLACE FUNCTION "audit_chain_redact"(p_row_id uuid, p_fields text[], p_reason text)
RETURNS TABLE (chain_seq bigint, org_id uuid, erased text[], audit_row_id uuid, audit_chain_seq bigint)
LANGUAGE plpgsql SECURITY DEFINER AS $$
#variable_conflict use_column
DECLARE
  personal constant text[] := ARRAY['actor_email', 'ip_address', 'user_agent'];
  v_org uuid;
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
  SELECT count(*), min(a.org_id::text)::uuid INTO v_rows, v_org FROM audit_logs a WHERE a.id = p_row_id;
  IF v_rows <> 1 THEN
    RAISE EXCEPTION 'redact: row %: got % rows with this id, want exactly one', p_row_id, v_rows USING ERRCODE = 'AC011';
  END IF;
  IF v_org IS NULL THEN
    SELECT a.chain_seq, a.org_id, a.checksum, a.actor_email, a.ip_address, a.user_agent, a.pii_salt
      INTO v_row FROM audit_logs a WHERE a.org_id IS NULL AND a.id = p_row_id FOR UPDATE;
  ELSE
    SELECT a.chain_seq, a.org_id, a.checksum, a.actor_email, a.ip_address, a.user_agent, a.pii_salt
      INTO v_row FROM audit_logs a WHERE a.org_id = v_org AND a.id = p_row_id FOR UPDATE;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'redact: row %: it left chain % while being redacted', p_row_id, coalesce(v_org::text, 'system') USING ERRCODE = 'AC011';
  END IF;
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
  VALUES (v_row.chain_seq, p_row_id, v_row.org_id, v_held, p_reason, session_user, audit_chain_xact_token(), v_audit.id);
  IF v_org IS NULL THEN
    UPDATE audit_logs a SET actor_email = NULL, ip_address = NULL, user_agent = NULL, pii_salt = NULL
     WHERE a.org_id IS NULL AND a.id = p_row_id AND a.chain_seq = v_row.chain_seq;
  ELSE
    UPDATE audit_logs a SET actor_email = NULL, ip_address = NULL, user_agent = NULL, pii_salt = NULL
     WHERE a.org_id = v_org AND a.id = p_row_id AND a.chain_seq = v_row.chain_seq;
  END IF;
  RETURN QUERY SELECT v_row.chain_seq, v_row.org_id, v_held, v_audit.id, v_audit.chain_seq;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "audit_logs_check_retention_cut"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_orgs uuid[];
  v_seqs bigint[];
  stray record;
BEGIN
  SELECT coalesce(array_agg(c.org_id), '{}'), coalesce(array_agg(c.cut_seq), '{}') INTO v_orgs, v_seqs
    FROM audit_chain_retention_cuts c
   WHERE c.id = ANY (audit_chain_retention_cut_ids());
  SELECT d.org_id, d.chain_seq INTO stray
    FROM deleted_rows d
   WHERE NOT EXISTS (
           SELECT 1 FROM unnest(v_orgs, v_seqs) AS k(org_id, cut_seq)
            WHERE k.org_id IS NOT DISTINCT FROM d.org_id
              AND d.chain_seq <= k.cut_seq)
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
-- As 0018's, but the cuts are named with SET LOCAL, which Citus propagates to
-- the workers (set_config() does not). A SET LOCAL inside a function with a
-- SET clause ends with the function here, as set_config(..., true) did; on the
-- workers the name is cleared by the second SET LOCAL.
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
  IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
    SET LOCAL citus.propagate_set_commands = 'local';
  END IF;
  EXECUTE format('SET LOCAL audit_chain.retention_cuts = %L', ARRAY[v_cut]::text);
  v_deleted := audit_chain_delete_cut(c.org_id, c.cut_seq);
  SET LOCAL audit_chain.retention_cuts = '';
  UPDATE audit_chain_retention_cuts SET deleted_rows = v_deleted WHERE id = v_cut;
  RETURN v_deleted;
END
$$;
