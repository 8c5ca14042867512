// The safe horizon on Citus: audit_chain_open_writers lists the open audit
// writers of the whole cluster, the coordinator's first, then each worker's.
// The argument is in docs/sealing.md ("On Citus"); in short:
//   * chain_seq comes from the coordinator's sequence, taken by the coordinator
//     backend that plans the INSERT, after it locked the distributed table
//     (RowExclusiveLock) and until that transaction ends: the single-server rule
//     holds on the coordinator unchanged;
//   * when that transaction ends its rows are committed on the worker (one
//     worker: COMMIT before the coordinator's own commit; several: PREPARE
//     before it, COMMIT PREPARED after it, but before its locks are released),
//     except when COMMIT PREPARED fails: then the row waits on the worker in a
//     prepared transaction that still holds RowExclusiveLock on its shard.
//     Listing the workers' holders of that lock, AFTER the coordinator's (the
//     function below runs the two in that order), catches it: a prepared writer
//     (NULL pid) stops every probe from settling until it is resolved;
//   * a worker that cannot be asked fails the whole listing: no probe is taken,
//     the horizon stays where it is.
// The view keeps the columns and types of drizzle/0005_open_writers_view.sql,
// so the horizon tracker and the lag views read it unchanged.

/** SQL (run by `audit-chain citus distribute` as the table owner) that installs the cluster-wide listing. */
export const CITUS_OPEN_WRITERS_SQL = [
  `CREATE OR REPLACE FUNCTION audit_chain_citus_open_writers()
   RETURNS TABLE (virtualtransaction text, pid integer, granted boolean, application_name text, user_name name,
                  client_addr inet, backend_type text, state text, xact_start timestamptz, state_change timestamptz,
                  wait_event_type text, wait_event text, query text)
   LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, audit_chain, public AS $fn$
   DECLARE
     node record;
   BEGIN
     -- 1. The coordinator's writers (the single-server listing of 0005), read first.
     RETURN QUERY
       SELECT DISTINCT ON (l.virtualtransaction)
              l.virtualtransaction, l.pid, l.granted, a.application_name, a.usename, a.client_addr, a.backend_type,
              a.state, a.xact_start, a.state_change, a.wait_event_type, a.wait_event, left(a.query, 500)
         FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock'
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.relation = 'audit_logs'::regclass
          AND l.pid IS DISTINCT FROM pg_backend_pid()
        ORDER BY l.virtualtransaction, l.granted DESC;
     -- 2. Then every worker's: holders of RowExclusiveLock on a shard of audit_logs
     --    (or on the worker's own copy of the distributed table), prepared ones included.
     FOR node IN SELECT r.nodename, r.nodeport, r.success, r.result FROM run_command_on_workers($cmd$
       SELECT coalesce(json_agg(w), '[]') FROM (
         SELECT DISTINCT ON (l.virtualtransaction)
                l.virtualtransaction, l.pid, l.granted, a.application_name, a.usename AS user_name, a.client_addr,
                a.backend_type, a.state, a.xact_start, a.state_change, a.wait_event_type, a.wait_event,
                left(a.query, 500) AS query
           FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock'
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND l.relation IN (
                  SELECT c.oid FROM pg_class c
                   WHERE c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = 'audit_chain.audit_logs'::regclass)
                     AND (c.relname = 'audit_logs'
                          OR c.relname IN (SELECT 'audit_logs_' || s.shardid FROM pg_dist_shard s
                                            WHERE s.logicalrelid = 'audit_chain.audit_logs'::regclass)))
          ORDER BY l.virtualtransaction, l.granted DESC) w
     $cmd$) r LOOP
       IF NOT node.success THEN
         RAISE EXCEPTION 'cannot list the open audit writers of worker %:%: %', node.nodename, node.nodeport, node.result
           USING HINT = 'The safe horizon does not move until every worker answers.';
       END IF;
       RETURN QUERY
         SELECT 'node ' || node.nodename || ':' || node.nodeport || ' ' || w.virtualtransaction, w.pid, w.granted,
                w.application_name, w.user_name, w.client_addr, w.backend_type, w.state, w.xact_start, w.state_change,
                w.wait_event_type, w.wait_event, w.query
           FROM json_to_recordset(node.result::json) AS w(
                virtualtransaction text, pid integer, granted boolean, application_name text, user_name name,
                client_addr inet, backend_type text, state text, xact_start timestamptz, state_change timestamptz,
                wait_event_type text, wait_event text, query text);
     END LOOP;
   END
   $fn$`,
  `CREATE OR REPLACE VIEW audit_chain_open_writers AS SELECT * FROM audit_chain_citus_open_writers()`,
];
