#!/bin/bash
# Stand-in for the official postgres image's entrypoint (used by `npm run test:deploy`):
# POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, PGDATA and /docker-entrypoint-initdb.d/*.sql|*.sh.
set -euo pipefail
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ "${1:-}" = postgres ]; then
  user="${POSTGRES_USER:-postgres}" db="${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pw=$(mktemp); printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" > "$pw"
    initdb -D "$PGDATA" -U "$user" --pwfile="$pw" -E UTF8 --no-locale --auth-local=trust --auth-host=scram-sha-256
    rm -f "$pw"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /tmp" -w start
    [ "$db" = postgres ] || psql -v ON_ERROR_STOP=1 -h /tmp -U "$user" -d postgres -c "CREATE DATABASE \"$db\""
    for f in /docker-entrypoint-initdb.d/*; do
      case "$f" in
        *.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 -h /tmp -U "$user" -d "$db" -f "$f" ;;
        *.sh) echo "running $f"; . "$f" ;;
      esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
  fi
  shift
  exec postgres -D "$PGDATA" -c listen_addresses='*' -k /var/run/postgresql "$@"
fi
exec "$@"
