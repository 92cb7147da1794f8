# shellcheck shell=bash
# Start and stop a throwaway PostgreSQL on loopback for the tests.
# Sourced by ./x; uses Debian's postgresql package (installed by scripts/setup).

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  echo "PostgreSQL is not installed (run ./x setup)" >&2
  return 1
}

# pg_start DIR PORT: a fresh cluster under DIR listening on 127.0.0.1:PORT,
# trusting local connections (it is reachable from this machine only).
pg_start() {
  local dir=$1 port=$2 bin
  bin=$(pg_bin) || return 1
  mkdir -p "$dir"
  local runas=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$dir"
    runas=(runuser -u postgres --)
  fi
  "${runas[@]}" "$bin/initdb" -D "$dir/data" -U mooring --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 400
shared_buffers = 128MB
CONF
  # Tests trade durability for speed; benchmarks (PG_DURABLE=1) keep the
  # defaults a production server runs with.
  if [ "${PG_DURABLE:-0}" != 1 ]; then
    printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' >>"$dir/data/postgresql.conf"
  fi
  "${runas[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
    || { cat "$dir/server.log" >&2; return 1; }
  export MOORING_TEST_PG_URL="postgres://mooring@127.0.0.1:$port/postgres"
}

pg_stop() {
  local dir=$1 bin
  bin=$(pg_bin) || return 0
  [ -d "$dir/data" ] || return 0
  local runas=()
  [ "$(id -u)" = 0 ] && runas=(runuser -u postgres --)
  "${runas[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}
