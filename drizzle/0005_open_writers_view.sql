-- Protects: the safe horizon. Every transaction that inserts into audit_logs (or
-- into one of its partitions) holds RowExclusiveLock on that relation from before
-- it takes its chain_seq until it ends. This view lists those transactions in
-- this database, other than the caller's own, so the horizon can wait on exactly
-- them and not on every open transaction of the cluster (docs/sealing.md), and
-- the lag views can show who holds sealing back. A prepared transaction shows
-- with a NULL pid.
-- Replaces: nothing.
CREATE VIEW "audit_chain_open_writers" AS
SELECT DISTINCT ON (l.virtualtransaction)
  l.virtualtransaction,
  l.pid,
  l.granted,
  a.application_name,
  a.usename AS user_name,
  a.client_addr,
  a.backend_type,
  a.state,
  a.xact_start,
  a.state_change,
  a.wait_event_type,
  a.wait_event,
  left(a.query, 500) AS query
FROM pg_locks l
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation'
  AND l.mode = 'RowExclusiveLock'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND (l.relation = 'audit_logs'::regclass
       OR l.relation IN (SELECT relid FROM pg_partition_tree('audit_logs'::regclass)))
  AND l.pid IS DISTINCT FROM pg_backend_pid()
ORDER BY l.virtualtransaction, l.granted DESC;
--> statement-breakpoint
DO $$
BEGIN
  EXECUTE format('GRANT SELECT ON audit_chain_open_writers TO %I, %I', audit_chain_role('sealer'), audit_chain_role('admin'));
END
$$;
