#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on 127.0.0.1 for the store's tests.
#
# Usage (in .ci/run):   eval "$(bash .ci/postgres.sh)"
#
# Installs Debian's `postgresql` package when no server binaries are found (needs root and
# apt-get), creates a cluster in a temporary folder owned by the `postgres` user, starts it on
# 127.0.0.1:${XEROTRIAL_PG_PORT:-54329} with trust authentication (loopback only), creates the
# database `xerotrial_test` and prints one line on stdout:
#     export XEROTRIAL_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:54329/xerotrial_test
# Progress goes to stderr. It always exits 0: when no server can be started it prints nothing
# on stdout and says why on stderr, and the PostgreSQL tests skip with that reason.
set -u
PORT="${XEROTRIAL_PG_PORT:-54329}"
DB=xerotrial_test
log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

main() {
    local bindir
    bindir="$(find_bindir)"
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
        if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
            log "no PostgreSQL server binaries and cannot apt-get install (not root / no apt)"
            return 1
        fi
        log "installing Debian's postgresql package"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2 || return 1
        apt-get install -y -qq postgresql >&2 || return 1
        bindir="$(find_bindir)"
        [ -n "$bindir" ] || { log "postgresql installed but no bin folder found"; return 1; }
    fi
    local run=()
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres >&2 || return 1
        run=(runuser -u postgres --)
    fi
    if "${run[@]}" "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; then
        log "a server already answers on 127.0.0.1:$PORT"
    else
        local dir
        dir="$(mktemp -d /tmp/xerotrial-pg.XXXXXX)" || return 1
        [ "$(id -u)" = 0 ] && chown postgres "$dir"
        "${run[@]}" "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync >&2 \
            || return 1
        "${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PORT -k $dir -c fsync=off" start >&2 \
            || { cat "$dir/server.log" >&2; return 1; }
    fi
    "${run[@]}" "$bindir/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
        || "${run[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB" >&2 \
        || return 1
    echo "export XEROTRIAL_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/$DB"
    log "PostgreSQL ready on 127.0.0.1:$PORT, database $DB"
}

main || log "PostgreSQL not started: its tests will be skipped"
exit 0
