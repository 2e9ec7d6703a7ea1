#!/bin/sh
# report.sh: the cost of the reporter, part of `make bench` (bench/bench.mk).
# Runs bench/report.lua twice: 10,000 tests half failing with about 2 KiB
# of diagnostics each, then all passing, written as TAP and JUnit (best of
# BENCH_ROUNDS, default 3). Prints the figures; no target (compare with
# docs/architecture.md, "What is C and what is Lua"). Exits non-zero only
# when it cannot measure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mpod=$(cd "$root" && realpath "${MPOD:-build/mpod-lua}")
[ -x "$mpod" ] || { echo "bench/report.sh: no $mpod (run make)" >&2; exit 2; }

echo "== report: TAP + JUnit of 10,000 tests"
for failing in 1 0; do
    # the reporter's TAP goes to the child's stdout, the runner's stderr
    out=$(cd "$root" && MPOD_CLUSTER= BENCH_FAILING=$failing "$mpod" bench/report.lua 2>/dev/null) || {
        printf '%s\n' "$out"
        exit 1
    }
    printf '%s\n' "$out" | sed -n 's/^ *# bench| /  /p'
done
