#!/usr/bin/env bash
# A local Citus cluster for the Citus tests and benchmarks: a coordinator and
# two workers, three PostgreSQL 15 clusters of this machine (pg_createcluster).
#
#   scripts/citus/cluster.sh build    build and install Citus from the vendored source, unless installed
#   scripts/citus/cluster.sh start    build if needed, create the three clusters if missing, start them
#   scripts/citus/cluster.sh stop     stop them (the data stays)
#   scripts/citus/cluster.sh drop     stop and delete them
#   scripts/citus/cluster.sh status   one line per node
#   scripts/citus/cluster.sh url      the coordinator's postgres:// URL (CITUS_DATABASE_URL)
#
# Every subcommand is idempotent. Environment:
#   CITUS_TARBALL   Citus source (default /work/shared/vendor/citus-12.1.12.tar.gz)
#   CITUS_BUILD_DIR where the source is unpacked and built, kept between runs
#                   (default ${XDG_CACHE_HOME:-$HOME/.cache}/audit-chain/citus-build)
#   CITUS_PORTS     coordinator and worker ports (default "5451 5452 5453")
#   PG_VERSION      PostgreSQL major version (default 15)
#
# Each database that uses Citus needs the extension and the node list of its
# own (Citus 12.1 keeps its metadata per database): test/citus/cluster.ts makes
# such databases; `url` prints the coordinator's `postgres` database, which
# `start` sets up.
set -euo pipefail

PG_VERSION="${PG_VERSION:-15}"
CITUS_VERSION=12.1.12
CITUS_TARBALL="${CITUS_TARBALL:-/work/shared/vendor/citus-$CITUS_VERSION.tar.gz}"
CITUS_BUILD_DIR="${CITUS_BUILD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/audit-chain/citus-build}"
read -r -a PORTS <<<"${CITUS_PORTS:-5451 5452 5453}"
PG_CONFIG="/usr/lib/postgresql/$PG_VERSION/bin/pg_config"
PSQL="/usr/lib/postgresql/$PG_VERSION/bin/psql"
BUILD_DEPS=(postgresql-server-dev-$PG_VERSION libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev
  libssl-dev libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev)

say() { echo "citus: $*" >&2; }
die() { echo "citus: $*" >&2; exit 1; }
name_of() { echo "citus-$1"; }

installed_version() {
  local libdir sharedir
  libdir="$("$PG_CONFIG" --pkglibdir 2>/dev/null)" || return 1
  sharedir="$("$PG_CONFIG" --sharedir 2>/dev/null)" || return 1
  [[ -f "$libdir/citus.so" && -f "$sharedir/extension/citus.control" ]] || return 1
  # The control file names the SQL version (12.1-1); the library names the release.
  grep -a -q "Citus $CITUS_VERSION on" "$libdir/citus.so"
}

build() {
  if installed_version; then say "Citus $CITUS_VERSION already installed"; return; fi
  [[ -f "$CITUS_TARBALL" ]] || die "no Citus source at $CITUS_TARBALL (set CITUS_TARBALL)"
  local missing=()
  for package in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  if ((${#missing[@]})); then
    say "installing build dependencies: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  local source="$CITUS_BUILD_DIR/citus-$CITUS_VERSION"
  mkdir -p "$CITUS_BUILD_DIR"
  if [[ ! -f "$source/.built" ]]; then
    # with_llvm=no: no JIT bitcode, which would take as long again to compile.
    say "building Citus $CITUS_VERSION in $source (about 5 minutes on 2 cores)"
    rm -rf "$source" && mkdir -p "$source"
    # The vendored archive has the tree at its top; a GitHub archive has one directory above it.
    if tar tzf "$CITUS_TARBALL" | grep -x 'configure' >/dev/null; then
      tar xzf "$CITUS_TARBALL" -C "$source"
    else
      tar xzf "$CITUS_TARBALL" -C "$source" --strip-components=1
    fi
    (cd "$source" && ./configure PG_CONFIG="$PG_CONFIG" >"$CITUS_BUILD_DIR/configure.log" 2>&1 \
      && make -j"$(nproc)" with_llvm=no >"$CITUS_BUILD_DIR/make.log" 2>&1) \
      || die "build failed: see $CITUS_BUILD_DIR/configure.log and make.log"
    touch "$source/.built"
  fi
  # The build is kept: a reinstalled PostgreSQL only needs `make install` again.
  (cd "$source" && make install with_llvm=no >"$CITUS_BUILD_DIR/install.log" 2>&1) || die "make install failed: see $CITUS_BUILD_DIR/install.log"
  installed_version || die "Citus $CITUS_VERSION not found in $("$PG_CONFIG" --pkglibdir) after make install"
  say "Citus $CITUS_VERSION installed"
}

node_psql() { # port db sql...
  local port="$1" db="$2"; shift 2
  PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" -tA "$@"
}

create_node() {
  local port="$1" name; name="$(name_of "$port")"
  if pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$PG_VERSION/$name"; then return; fi
  say "creating cluster $PG_VERSION/$name on port $port"
  pg_createcluster "$PG_VERSION" "$name" -p "$port" -- --auth-local=trust --auth-host=trust >/dev/null
  # Two-phase commits across workers need prepared transactions; every node is
  # reached by the others' connections as well as the tests'.
  cat >"/etc/postgresql/$PG_VERSION/$name/conf.d/audit-chain-citus.conf" <<CONF
shared_preload_libraries = 'citus'
listen_addresses = '127.0.0.1'
max_connections = 300
max_prepared_transactions = 300
shared_buffers = '64MB'
CONF
}

start_node() {
  local port="$1" name; name="$(name_of "$port")"
  if ! pg_lsclusters -h | awk -v n="$name" -v v="$PG_VERSION" '$1==v && $2==n {print $4}' | grep -q online; then
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$name" start
  fi
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p "$port" && return; sleep 1; done
  die "node on port $port did not become ready"
}

# Citus in the coordinator's `postgres` database, with both workers added.
setup_postgres_database() {
  local coordinator="${PORTS[0]}"
  for port in "${PORTS[@]}"; do node_psql "$port" postgres -c 'CREATE EXTENSION IF NOT EXISTS citus'; done
  node_psql "$coordinator" postgres -c "SELECT citus_set_coordinator_host('127.0.0.1', $coordinator)" >/dev/null
  for port in "${PORTS[@]:1}"; do
    node_psql "$coordinator" postgres -c "SELECT citus_add_node('127.0.0.1', $port)" >/dev/null
  done
}

start() {
  build
  for port in "${PORTS[@]}"; do create_node "$port"; start_node "$port"; done
  setup_postgres_database
  say "coordinator $(url), workers on ports ${PORTS[*]:1}"
}

stop() {
  for port in "${PORTS[@]}"; do
    local name; name="$(name_of "$port")"
    if pg_lsclusters -h | awk -v n="$name" -v v="$PG_VERSION" '$1==v && $2==n {print $4}' | grep -q online; then
      pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$name" stop -m fast
    fi
  done
}

drop() {
  stop
  for port in "${PORTS[@]}"; do
    local name; name="$(name_of "$port")"
    if pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$PG_VERSION/$name"; then pg_dropcluster "$PG_VERSION" "$name"; fi
  done
}

status() {
  for port in "${PORTS[@]}"; do
    local name; name="$(name_of "$port")"
    if pg_isready -q -h 127.0.0.1 -p "$port"; then echo "$name port $port up"; else echo "$name port $port down"; fi
  done
}

url() { echo "postgres://postgres@127.0.0.1:${PORTS[0]}/postgres"; }

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  drop) drop ;;
  status) status ;;
  url) url ;;
  *) die "usage: $0 build|start|stop|drop|status|url" ;;
esac
