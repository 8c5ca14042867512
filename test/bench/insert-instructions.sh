#!/usr/bin/env bash
# Issue 14: the instructions one INSERT costs a backend, per table layout, under
# the simple protocol (every statement parsed, rewritten and planned) and as a
# prepared statement (PREPARE once, EXECUTE per row: the plan cache skips parse,
# rewrite and planning). Counted by valgrind's callgrind, so the figures do not
# depend on the machine's load, unlike the pgbench section.
#
# A throwaway cluster (initdb in a temporary directory, Unix socket only) is
# migrated with the project's migrations, gets the insert-conditions variants
# (insert-variants.ts: plain, audit_logs and the decomposition copies) and
# ROWS rows in each table; then, per table, a single-user backend
# (postgres --single, one transaction per line, as the simple protocol) runs N1
# and then N2 of the bench's one-hot-organization INSERTs under callgrind, and
# (Ir(N2) - Ir(N1)) / (N2 - N1) is the cost of one INSERT, start-up cancelled.
#
#   bash test/bench/insert-instructions.sh            # about 2 minutes per table on a quiet machine
#   ROWS=300000 N1=200 N2=2200 bash test/bench/insert-instructions.sh
#
# Needs valgrind and the PostgreSQL server binaries (PGBIN, default: the newest
# /usr/lib/postgresql/<version>/bin); runs as root by handing the cluster to the
# postgres user. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${ROWS:-300000}
N1=${N1:-200}
N2=${N2:-1200}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
VARIANTS=${VARIANTS:-plain audit-chain audit-chain-copy audit-chain-sequence-default audit-chain-no-brin audit-chain-no-link-index audit-chain-brin}
NODE=node_modules/.bin/node
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)" >&2; exit 1; }
[ -x "$PGBIN/postgres" ] || { echo "no postgres in PGBIN=$PGBIN" >&2; exit 1; }

work=$(mktemp -d)
chmod 777 "$work"
as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else bash -c "$*"; fi; }
stop() { as_postgres "$PGBIN/pg_ctl -D $work/data stop -w -m fast" >/dev/null 2>&1 || true; }
trap 'stop; rm -rf "$work"' EXIT

as_postgres "$PGBIN/initdb -D $work/data -U postgres -A trust" >/dev/null
cat >> "$work/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = 5499
autovacuum = off
CONF
as_postgres "$PGBIN/pg_ctl -D $work/data -l $work/log start -w" >/dev/null
url="postgres://postgres@%2F$(printf %s "$work" | sed 's,/,%2F,g'):5499/bench"
psql "host=$work port=5499 user=postgres dbname=postgres" -qc 'create database bench'
"$NODE" --input-type=module -e "const { migrate } = await import('@audit-chain/db'); await migrate(process.argv[1]);" "$url"

# table name and install SQL of each variant, from insert-variants.ts itself
"$NODE" --input-type=module -e "
const { findVariant } = await import('./test/bench/insert-variants.ts');
const { writeFileSync } = await import('node:fs');
const lines = [];
for (const id of process.argv.slice(2)) {
  const v = findVariant(id);
  if (v.install) writeFileSync(process.argv[1] + '/install-' + id + '.sql', v.install);
  lines.push(id + ' ' + v.table);
}
writeFileSync(process.argv[1] + '/tables', lines.join('\n') + '\n');" "$work" $VARIANTS

db() { PGOPTIONS='-c search_path=audit_chain' psql "host=$work port=5499 user=postgres dbname=bench" -q -v ON_ERROR_STOP=1 "$@" < /dev/null; }
columns="org_id, actor_type, actor_id, action, resource_type, resource_id, details, ip_address"
while read -r id table <&3; do
  [ -f "$work/install-$id.sql" ] && db -f "$work/install-$id.sql"
  # distinct occurred_at per row, as autocommit inserts have (the plain table indexes it)
  db -c "insert into $table (occurred_at, $columns)
         select now() + n * interval '1 microsecond', ('00000000-0000-0000-0000-' || lpad('1', 12, '0'))::uuid, 'agent', 'agent-' || d,
                'session.submitted', 'device', 'device-' || d, '{\"status\": \"ok\", \"agent_version\": \"4.2.1\"}', '10.0.0.1'
           from (select n, (random() * 99999)::int + 1 as d from generate_series(1, $ROWS) n) s"
  values="(('00000000-0000-0000-0000-' || lpad(1::text, 12, '0'))::uuid, 'agent', 'agent-' || %s, 'session.submitted', 'device', 'device-' || %s, '{\"status\": \"ok\", \"agent_version\": \"4.2.1\"}', '10.0.0.1')"
  for n in "$N1" "$N2"; do
    for i in $(seq 1 "$n"); do d=$((RANDOM % 100000 + 1)); printf "INSERT INTO $table ($columns) VALUES $values;\n" "$d" "$d"; done > "$work/simple-$id-$n.sql"
    { printf "PREPARE p(int) AS INSERT INTO $table ($columns) VALUES $values;\n" '$1' '$1'
      for i in $(seq 1 "$n"); do echo "EXECUTE p($((RANDOM % 100000 + 1)));"; done; } > "$work/prepared-$id-$n.sql"
  done
done 3< "$work/tables"
db -c checkpoint
stop

instructions() { # mode id n -> Ir of one single-user backend running that file
  as_postgres "valgrind --tool=callgrind --callgrind-out-file=$work/cg.$1.$2.$3 $PGBIN/postgres --single -D $work/data -c search_path=audit_chain bench < $work/$1-$2-$3.sql > $work/out.$1.$2.$3 2>&1"
  if grep -q ERROR "$work/out.$1.$2.$3"; then grep ERROR "$work/out.$1.$2.$3" | head -3 >&2; exit 1; fi
  sed -n 's/^summary: //p' "$work/cg.$1.$2.$3"
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| variant | simple protocol, instructions per INSERT | prepared (EXECUTE), instructions per INSERT |"
echo "| --- | ---: | ---: |"
while read -r id table <&3; do
  row="| $id |"
  for mode in simple prepared; do
    a=$(instructions "$mode" "$id" "$N1"); b=$(instructions "$mode" "$id" "$N2")
    row="$row $(( (b - a) / (N2 - N1) )) |"
  done
  echo "$row"
done 3< "$work/tables"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
