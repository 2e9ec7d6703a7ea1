#!/bin/sh
# toxiproxy.sh: the Toxiproxy of the process-backend reference cluster
# (compose/local.lua). Writes the proxies to create at start into CONFIG and
# execs toxiproxy-server with its API on 127.0.0.1:API_PORT, as the compose
# cluster's toxiproxy service does with compose/toxiproxy.json.
#
#   compose/local/toxiproxy.sh SERVER API_PORT CONFIG NAME=LISTEN=UPSTREAM ...
#
# SERVER is toxiproxy-server as `make toxiproxy` builds it ($(BUILD)/toxiproxy/);
# each NAME=LISTEN=UPSTREAM is one proxy, e.g.
# postgres=127.0.0.1:25433=127.0.0.1:25432.
set -eu

die() { echo "toxiproxy.sh: $*" >&2; exit 1; }
[ $# -ge 3 ] || die "usage: $0 SERVER API_PORT CONFIG NAME=LISTEN=UPSTREAM ..."
server=$1
port=$2
config=$3
shift 3
[ -x "$server" ] || die "no $server: build it with \`make toxiproxy\` (same BUILD=), or set MESHD_TOXIPROXY=off to run the cluster without it"

mkdir -p "$(dirname "$config")"
{
    echo "["
    sep=" "
    for spec in "$@"; do
        name=${spec%%=*}
        rest=${spec#*=}
        listen=${rest%%=*}
        upstream=${rest#*=}
        [ -n "$name" ] && [ -n "$listen" ] && [ "$upstream" != "$rest" ] ||
            die "bad proxy '$spec' (want NAME=LISTEN=UPSTREAM)"
        printf '%s{ "name": "%s", "listen": "%s", "upstream": "%s", "enabled": true }\n' \
            "$sep" "$name" "$listen" "$upstream"
        sep=","
    done
    echo "]"
} > "$config.tmp"
mv "$config.tmp" "$config"

exec "$server" -host 127.0.0.1 -port "$port" -config "$config"
