#!/bin/sh
# redact.sh: the cost of hiding secrets, part of `make bench`
# (bench/bench.mk). Runs bench/redact.lua, which times mpod.redact's
# redact() on 1 MiB texts of four kinds (best of BENCH_ROUNDS, default
# 11; target at most 20 ms each) and redact_all() on a failed test's
# event. Prints each figure with its target and PASS or MISS; exits 0
# either way, non-zero only when it cannot measure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mpod=$(cd "$root" && realpath "${MPOD:-build/mpod-lua}")
[ -x "$mpod" ] || { echo "bench/redact.sh: no $mpod (run make)" >&2; exit 2; }

echo "== redact: redact() on 1 MiB texts, redact_all() on an event"
out=$(cd "$root" && MPOD_CLUSTER= "$mpod" bench/redact.lua 2>&1) || {
    printf '%s\n' "$out"
    exit 1
}
printf '%s\n' "$out" | sed -n 's/^ *# bench| /  /p'
