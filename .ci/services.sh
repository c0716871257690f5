# shellcheck shell=bash
# Services and tools the test suite uses beyond what runs in process. Sourced by .ci/run
# after lib.sh, never executed. Each step installs what is missing from Debian's packages
# (CI runs as root), so a fresh machine gets the same test run as a warm one:
#
#   kcat        a Kafka client we did not write (internal/devkafka TestKcatInterop)
#   PostgreSQL  the multi-instance SQL catalog (table TestCatalogPostgres, ingest tests)
#   DuckDB      scripts/ for bigfather query (npm ci; cmd/bigfather TestQueryReadsLiveFilesAndEmptyTables)
#
# A step that cannot install or start its service fails CI: a suite that silently skips
# would make a green run claim more than it checked.

CI_APT_UPDATED=0

# ci_apt_install PKG...: installs Debian packages, running apt-get update once per CI run.
ci_apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get not found: cannot install $*" >&2
    return 1
  fi
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
  if [ "$CI_APT_UPDATED" -eq 0 ]; then
    "${sudo[@]}" apt-get update -qq || return 1
    CI_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ci_ensure_kcat() {
  if ! command -v kcat >/dev/null 2>&1; then
    echo "kcat not found; installing the Debian package"
    ci_apt_install kcat || return 1
  fi
  echo "kcat: $(kcat -V 2>&1 | head -n 1)"
}

# ci_pg_bin prints the directory holding initdb and pg_ctl, or fails.
ci_pg_bin() {
  local d
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

CI_PG_DIR=""
CI_PG_BIN=""
CI_PG_USER=""

# ci_pg_run CMD...: runs a PostgreSQL server command as CI_PG_USER (the server refuses root).
ci_pg_run() {
  if [ "$CI_PG_USER" = "$(id -un)" ]; then
    "$@"
  else
    # runuser keeps our arguments intact; su -c would need them quoted into one string.
    runuser -u "$CI_PG_USER" -- "$@"
  fi
}

# ci_start_postgres starts a throwaway PostgreSQL on 127.0.0.1 and exports
# BIGFATHER_TEST_POSTGRES_DSN for the tests. ci_stop_postgres stops it.
ci_start_postgres() {
  if ! CI_PG_BIN=$(ci_pg_bin); then
    echo "PostgreSQL not found; installing the Debian package"
    ci_apt_install postgresql || return 1
    CI_PG_BIN=$(ci_pg_bin) || {
      echo "initdb not found after installing postgresql" >&2
      return 1
    }
  fi
  CI_PG_USER=$(id -un)
  if [ "$(id -u)" -eq 0 ]; then
    if id postgres >/dev/null 2>&1; then
      CI_PG_USER=postgres
    else
      echo "running as root and there is no postgres user to run the server as" >&2
      return 1
    fi
  fi
  local port
  port=$(ci_free_ports 1) || return 1
  CI_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bigfather-ci-pg.XXXXXX") || return 1
  chmod 755 "$CI_PG_DIR"
  [ "$CI_PG_USER" = "$(id -un)" ] || chown "$CI_PG_USER" "$CI_PG_DIR"
  ci_pg_run "$CI_PG_BIN/initdb" -D "$CI_PG_DIR/data" -A trust -U bigfather >"$CI_PG_DIR/initdb.log" 2>&1 || {
    ci_tail initdb "$CI_PG_DIR/initdb.log" 20
    return 1
  }
  ci_pg_run "$CI_PG_BIN/pg_ctl" -D "$CI_PG_DIR/data" -l "$CI_PG_DIR/server.log" -w -t 60 \
    -o "-p $port -k $CI_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null || {
    ci_tail "postgres server log" "$CI_PG_DIR/server.log" 20
    return 1
  }
  export BIGFATHER_TEST_POSTGRES_DSN="postgres://bigfather@127.0.0.1:$port/postgres?sslmode=disable"
  echo "PostgreSQL $("$CI_PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $CI_PG_DIR)"
}

ci_stop_postgres() {
  [ -n "$CI_PG_DIR" ] || return 0
  ci_pg_run "$CI_PG_BIN/pg_ctl" -D "$CI_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$CI_PG_DIR"
  CI_PG_DIR=""
}

# ci_ensure_duckdb_scripts installs scripts/'s DuckDB (from its lockfile), which
# `bigfather query` runs (cmd/bigfather TestQueryReadsLiveFilesAndEmptyTables, .ci/readme.sh).
ci_ensure_duckdb_scripts() {
  npm ci --prefix scripts --no-audit --no-fund --loglevel=error || return 1
  echo "scripts: $(node -p 'require("./scripts/node_modules/@duckdb/node-api/package.json").version') of @duckdb/node-api"
}

ci_services() {
  ci_ensure_kcat || return 1
  ci_ensure_duckdb_scripts || return 1
  ci_start_postgres || return 1
}
