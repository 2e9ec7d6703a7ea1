#!/bin/sh
# postgres-entrypoint: entrypoint of the mpod-lua/postgres image. On first
# start it creates the cluster in $PGDATA (superuser postgres, password
# $POSTGRES_PASSWORD, default "postgres"); then it runs postgres in the
# foreground, listening on all interfaces, password (SCRAM) auth over TCP,
# trust on the local socket. Extra arguments go to postgres (`-c name=value`).
#
# Started as root, it fixes the ownership of the data and socket folders and
# re-executes itself as the postgres user. When $PGDATA does not exist yet
# the cluster is created in a sibling folder and renamed into place, so a
# start killed during initdb leaves no half-made cluster behind.
set -eu

PGDATA=${PGDATA:-/var/lib/postgresql/data/pgdata}
export PGDATA
password=${POSTGRES_PASSWORD:-postgres}

if [ "$(id -u)" = 0 ]; then
    parent=$(dirname "$PGDATA")
    mkdir -p "$parent" /run/postgresql
    chown postgres:postgres "$parent" /run/postgresql
    [ ! -d "$PGDATA" ] || chown postgres:postgres "$PGDATA"
    chmod 2775 /run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -d "$PGDATA" ] && [ -z "$(ls -A "$PGDATA")" ]; then
        target=$PGDATA                  # an empty folder, e.g. a volume's root
    elif [ -e "$PGDATA" ]; then
        echo "postgres-entrypoint: $PGDATA is not empty but holds no cluster (no PG_VERSION); remove the volume to start over" >&2
        exit 1
    else
        target=$PGDATA.initdb
        rm -rf "$target"
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$password" > "$pwfile"
    echo "postgres-entrypoint: creating the cluster in $PGDATA" >&2
    # --no-sync: a test cluster; the server started next runs with fsync=off too.
    initdb --pgdata="$target" --username=postgres --pwfile="$pwfile" --no-sync \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C >/dev/null
    rm -f "$pwfile"
    printf '%s\n' '# mpod-lua: any address, with a password' \
        'host all all 0.0.0.0/0 scram-sha-256' 'host all all ::/0 scram-sha-256' \
        >> "$target/pg_hba.conf"
    [ "$target" = "$PGDATA" ] || mv "$target" "$PGDATA"
fi

exec postgres -c listen_addresses='*' "$@"
