#!/bin/sh
# pg.sh: the Postgres figures, part of `make bench` (bench/bench.mk).
#
# Runs bench/pg.lua, which starts its own Postgres (tests/lua/lib/
# pgfixture.lua: initdb in /tmp, a free port, run as the postgres user
# when root) and, in that one invocation, measures sequential
# `SELECT $1::int` round trips from one scenario against
# `pgbench -c1 -M prepared` on the same statement for the same duration
# (target: at least 0.8x), and against spawning `psql -c` per query.
# BENCH_ROUNDS (default 3) alternating rounds of BENCH_SECONDS (default 5)
# each. Exits 0 whatever the figures; non-zero only when it cannot measure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mpod=$(cd "$root" && realpath "${MPOD:-build/mpod-lua}")

# one folder with all four, for pgfixture.lua too
MPOD_PG_BIN=$("$root/compose/local/pg-bindir" initdb postgres pgbench psql) ||
    { echo "bench/pg.sh: no Postgres programs to measure against (make deps)" >&2; exit 2; }
export MPOD_PG_BIN
[ -x "$mpod" ] || { echo "bench/pg.sh: no $mpod (run make)" >&2; exit 2; }

echo "== pg: SELECT \$1::int round trips against pgbench and psql -c"
out=$(cd "$root" && MPOD_CLUSTER= "$mpod" bench/pg.lua 2>&1) || {
    printf '%s\n' "$out"
    exit 1
}
printf '%s\n' "$out" | sed -n 's/^ *# bench| /  /p'
