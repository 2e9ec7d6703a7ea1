#!/bin/sh
# linear.sh: the linearizability checker against Porcupine, part of `make
# bench` (bench/bench.mk). bench/linear.lua generates (once, cached in
# $BUILD/bench-linear) linearizable cas-register histories of 1k, 10k and
# 100k operations in the export's JSONL format (keys of 1000 ops, 5
# processes each) and one of 20k operations on a single key, and times
# mp.check.linearizable on them, the ops in memory; bench/porcupine (a Go
# program, built once into $BUILD with the Go module proxy, Porcupine
# v1.3.1) times Porcupine's CheckEvents on the same files, the events
# built beforehand. Both keep the best of BENCH_LINEAR_RUNS (default 3)
# runs, or of 200000 / ops runs when that is more (short checks vary
# more). Porcupine checks the keys in parallel goroutines (all cores);
# mpod-lua on one core.
#
# Target: mpod-lua at most as long as Porcupine (ratio <= 1.0) on each
# size. Both must find every history linearizable. Prints the figures
# with PASS or MISS; exits 0 either way, non-zero only when it cannot
# measure (no go, no proxy, a verdict that is not "linearizable").
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mpod=$(cd "$root" && realpath "${MPOD:-build/mpod-lua}")
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
runs=${BENCH_LINEAR_RUNS:-3}
[ -x "$mpod" ] || { echo "bench/linear.sh: no $mpod (run make)" >&2; exit 2; }
command -v go >/dev/null || { echo "bench/linear.sh: go is missing (make deps-dev)" >&2; exit 2; }

# The Go side, rebuilt when its sources change.
prog=$build/porcupine-bench
if [ ! -x "$prog" ] || [ -n "$(find "$here/porcupine" -newer "$prog" -type f)" ]; then
    mkdir -p "$build/gomod"
    (cd "$here/porcupine" && GOFLAGS=-modcacherw GOMODCACHE=$build/gomod go build -o "$prog" .) ||
        { echo "bench/linear.sh: building bench/porcupine failed (is the Go module proxy reachable?)" >&2; exit 1; }
fi

echo "== linear: mp.check.linearizable against Porcupine v1.3.1 (best of $runs runs or more; load average $(cut -d' ' -f1-3 /proc/loadavg))"
ours=$(cd "$root" && MPOD_CLUSTER= BUILD=$build BENCH_LINEAR_RUNS=$runs "$mpod" bench/linear.lua 2>&1) || {
    printf '%s\n' "$ours"
    exit 1
}
ours=$(printf '%s\n' "$ours" | sed -n 's/^ *# bench| //p')
files=$(printf '%s\n' "$ours" | awk '{ print $1 }')
# shellcheck disable=SC2086
theirs=$("$prog" -runs "$runs" $files) || exit 1

printf '%s\n%s\n' "$ours" "$theirs" | awk '
    $2 == "true" || $2 == "false" || $2 == "unknown" { ours[$1] = $3; valid[$1] = $2; ops[$1] = $4; order[++n] = $1; next }
    { theirs[$1] = $3; verdict[$1] = $2 }
    END {
        bad = 0
        for (i = 1; i <= n; i++) {
            f = order[i]
            if (valid[f] != "true" || verdict[f] != "Ok") {
                printf "  %s: mpod-lua says %s, Porcupine %s: cannot compare\n", f, valid[f], verdict[f]
                bad = 1
                continue
            }
            ratio = ours[f] / theirs[f]
            name = f; sub(/.*\//, "", name)
            printf "  %-38s %7d ops  mpod-lua %9.2f ms  Porcupine %9.2f ms  %5.2f x  target <= 1.0 x  %s\n",
                name, ops[f], ours[f] * 1000, theirs[f] * 1000, ratio, ratio <= 1.0 ? "PASS" : "MISS"
        }
        exit bad
    }'
