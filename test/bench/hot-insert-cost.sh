#!/usr/bin/env bash
# Issue 14: what fillfactor 50 on audit_logs (needed for a HOT sealing UPDATE,
# test/bench/hot-update-study.sql) costs the insert path. Two copies of
# audit_logs (LIKE ... INCLUDING ALL), fillfactor 100 and 50, each taking single-row
# INSERTs from pgbench (prepared protocol, CLIENTS clients, SECONDS s per run),
# alternating ROUNDS times; tables keep growing between rounds.
#   DATABASE_URL=postgres://.../<migrated scratch db> bash test/bench/hot-insert-cost.sh
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL to a migrated scratch database}"
CLIENTS=${CLIENTS:-8}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
ROUNDS=${ROUNDS:-3}
PGBENCH=${PGBENCH:-pgbench}
work=$(mktemp -d)
trap 'rm -rf "$work"; psql "$DATABASE_URL" -qc "drop schema if exists hot_insert cascade"' EXIT
psql "$DATABASE_URL" -q -v ON_ERROR_STOP=1 <<'SQL'
drop schema if exists hot_insert cascade;
create schema hot_insert;
create table hot_insert.ff100 (like audit_chain.audit_logs including all) with (fillfactor = 100);
create table hot_insert.ff50 (like audit_chain.audit_logs including all) with (fillfactor = 50);
SQL
for table in ff100 ff50; do
  cat > "$work/$table.sql" <<SQL
\set g random(1, 1000000)
\set o 1 + (:g / 2) % 99
insert into hot_insert.$table (org_id, actor_type, actor_id, actor_email, action, resource_type, resource_id, details, ip_address, user_agent)
values (case when :g::int % 2 = 0 then '00000000-0000-4000-8000-000000000000'::uuid else ('00000000-0000-4000-8000-' || lpad(:o::text, 12, '0'))::uuid end,
        'agent', 'agent-' || (:g::int % 1000), 'ops' || (:g::int % 50) || '@example.com', 'telemetry.submitted', 'device', 'dev-' || (:g::int % 5000),
        jsonb_build_object('n', :g::int, 'status', 'ok'), ('10.1.' || (:g::int % 250) || '.' || (:g::int % 200 + 1))::inet, 'agent/1.0');
SQL
done
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
  for table in ff100 ff50; do
    psql "$DATABASE_URL" -qc checkpoint
    tps=$("$PGBENCH" -n -M prepared -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" -f "$work/$table.sql" "$DATABASE_URL" 2>"$work/err" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' || true)
    [ -n "$tps" ] || { cat "$work/err" >&2; exit 1; }
    echo "round $round $table tps $tps"
  done
done
psql "$DATABASE_URL" -Atc "select 'heap MB ff100 ' || pg_relation_size('hot_insert.ff100') / 1048576 || ', ff50 ' || pg_relation_size('hot_insert.ff50') / 1048576"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
