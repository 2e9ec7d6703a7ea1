#!/bin/sh
# postgres.sh: the Postgres of the process-backend reference cluster
# (compose/local.lua). Creates a throw-away cluster in DATADIR on its first
# start (superuser postgres, trust auth: a test cluster on loopback only),
# then execs postgres on 127.0.0.1:PORT without a Unix socket. Later starts
# (after a scenario stopped or killed it) reuse the cluster.
#
#   compose/local/postgres.sh DATADIR PORT [postgres options...]
#
# initdb and postgres refuse to run as root. Run as root (as CI is), the
# script gives DATADIR's folder to the postgres user, lets that user
# traverse the folder above it, and re-execs itself as postgres with
# setpriv, which execs instead of forking: the pid the runner signals is
# postgres itself, so the cluster file's stop_signal INT is a fast
# shutdown. setpriv keeps the signal the runner's death sends (a change of
# user would clear it). Run as anyone else, it runs as that user. A start
# killed during initdb leaves no half-made cluster: initdb writes
# DATADIR.initdb, which is renamed into place once complete. A stop
# signals the script's whole process group, so initdb (which removes
# DATADIR.initdb) and the postgres it runs get it too. initdb and postgres
# come from the folder compose/local/pg-bindir finds (Debian puts them in
# /usr/lib/postgresql/NN/bin, not on PATH; MPOD_PG_BIN overrides).
set -eu

die() { echo "postgres.sh: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: $0 DATADIR PORT [postgres options...]"
datadir=$1
port=$2
shift 2
home=$(dirname "$datadir")
mkdir -p "$home"

if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "run as root, this needs a 'postgres' user to run postgres as"
    command -v setpriv >/dev/null 2>&1 || die "run as root, this needs setpriv (util-linux)"
    chown -R postgres: "$home"
    chmod o+x "$(dirname "$home")"       # traverse only, to reach $home
    exec setpriv --reuid=postgres --regid=postgres --init-groups --pdeathsig keep \
        "$0" "$datadir" "$port" "$@"
fi

bin=$("$(dirname "$0")/pg-bindir" initdb postgres) || die "no Postgres server programs (see above)"

if [ ! -s "$datadir/PG_VERSION" ]; then
    rm -rf "$datadir" "$datadir.initdb"
    echo "postgres.sh: creating the cluster in $datadir with $bin/initdb" >&2
    "$bin/initdb" --pgdata="$datadir.initdb" --username=postgres --auth=trust --no-sync \
        --encoding=UTF8 --locale=C >/dev/null
    mv "$datadir.initdb" "$datadir"
fi

exec "$bin/postgres" -D "$datadir" -p "$port" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories= -c fsync=off -c synchronous_commit=off \
    -c full_page_writes=off "$@"
