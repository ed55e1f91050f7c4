#!/usr/bin/env bash
# Run a command against a throw-away PostgreSQL server, for the test suite:
#   scripts/postgres-for-tests.sh .venv/bin/pytest -n 2
# When PostgreSQL is missing, the script installs it from Debian's packages (as
# root). It starts the server as an unprivileged user in a temporary directory, on
# a free loopback port. The command runs with HOSTCA_TEST_DATABASE_URL naming the
# server's maintenance database. Afterwards the script stops the server, removes
# its directory and exits with the command's status.
set -euo pipefail

find_bindir() {
    local dir
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return
    fi
    # Debian keeps the server programs off PATH, under one directory per major version.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ]; then
            echo "$dir"
            return
        fi
    done
}

bindir=$(find_bindir)
if [ -z "$bindir" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "scripts/postgres-for-tests.sh: PostgreSQL is missing; install it (apt-get install postgresql) and run again." >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bindir=$(find_bindir)
    [ -n "$bindir" ] || { echo "scripts/postgres-for-tests.sh: no pg_ctl after installing postgresql." >&2; exit 1; }
fi

# initdb and postgres refuse to run as root: run them as nobody, in a directory of its own.
workdir=$(mktemp -d "${TMPDIR:-/tmp}/hostca-postgres.XXXXXX")
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
    chown nobody "$workdir"
    as_owner=(runuser -u nobody --)
fi

stop_postgres() {
    if [ -f "$workdir/data/postmaster.pid" ]; then
        "${as_owner[@]}" "$bindir/pg_ctl" -D "$workdir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$workdir"
}
trap stop_postgres EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$workdir" && "${as_owner[@]}" "$bindir/initdb" -D "$workdir/data" -U hostca --auth=trust \
    --encoding=UTF8 --locale=C --no-sync >"$workdir/initdb.log" 2>&1) || {
    cat "$workdir/initdb.log" >&2
    exit 1
}
# Durability is of no use for a throw-away cluster; each test server may hold
# about 16 connections per worker process.
(cd "$workdir" && "${as_owner[@]}" "$bindir/pg_ctl" -D "$workdir/data" -l "$workdir/postgres.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$workdir -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null) || {
    cat "$workdir/postgres.log" >&2
    exit 1
}

echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port for: $*" >&2
status=0
HOSTCA_TEST_DATABASE_URL="postgresql://hostca@127.0.0.1:$port/postgres" "$@" || status=$?
exit "$status"
