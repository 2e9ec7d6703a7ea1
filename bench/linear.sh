#!/bin/sh
# linear.sh: the linearizability checker against Porcupine, part of `make
# bench` (bench/bench.mk). The histories are exported by the engine:
# mpod-lua runs the scenario bench/linear_workload.lua (tasks reading,
# writing and cas-ing in-memory cas registers, recorded with mp.history())
# with `--history`, once per size: 1k, 10k and 100k operations (keys of
# 1000 ops, 5 tasks each) and 20k on a single key. The files are kept in
# $BUILD/bench-linear, named after the workload's hash, so they are made
# again when it changes. bench/linear.lua then times
# mp.check.linearizable on them, the ops in memory; bench/porcupine (a Go
# program, built once into $BUILD with the Go module proxy, Porcupine
# v1.3.1) times Porcupine's CheckEvents on the same files, the events
# built beforehand. Both read the scenario's ops only (the engine's, here
# the test's start and end, are left out). Both keep the best of
# BENCH_LINEAR_RUNS (default 3) runs, or of 200000 / ops runs when that
# is more (short checks vary more). Porcupine checks the keys in parallel
# goroutines (all cores); mpod-lua on one core.
#
# Target: mpod-lua at most as long as Porcupine (ratio <= 1.0) on each
# size. Both must find every history linearizable. Prints the figures
# with PASS or MISS; exits 0 either way, non-zero only when it cannot
# measure (no go, no proxy, a workload that fails, a verdict that is not
# "linearizable").
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

# The histories, exported by the engine: "ops:ops-per-key" each.
dir=${BENCH_LINEAR_DIR:-$build/bench-linear}
hash=$(sha256sum "$here/linear_workload.lua" | cut -c1-12)
mkdir -p "$dir"
files=""
for size in 1000:1000 10000:1000 100000:1000 20000:20000; do
    n=${size%:*} per_key=${size#*:}
    file=$dir/cas-register-$n-$((n / per_key))keys-$hash.jsonl
    files="$files $file"
    [ -f "$file" ] && continue
    rm -rf "$dir/export"
    out=$(cd "$root" && MPOD_CLUSTER= BENCH_LINEAR_OPS=$n BENCH_LINEAR_PER_KEY=$per_key \
        "$mpod" --history "$dir/export" bench/linear_workload.lua 2>&1) || {
        printf '%s\n' "$out"
        echo "bench/linear.sh: the workload of $n ops failed" >&2
        exit 1
    }
    mv "$dir/export/bench__linear_workload.jsonl" "$file"
    printf '  made %s: %s (%s)\n' "${file##*/}" "$(printf '%s\n' "$out" | sed -n 's/^ *# workload| //p')" \
        "$(printf '%s\n' "$out" | sed -n 's/.*mpod-lua: .*(\(.*\))$/the workload ran \1/p')"
done
rm -rf "$dir/export"
find "$dir" -name 'cas-register-*.jsonl' ! -name "*-$hash.jsonl" -delete # older workloads'

ours=$(cd "$root" && MPOD_CLUSTER= BENCH_LINEAR_FILES="$files" BENCH_LINEAR_RUNS=$runs "$mpod" bench/linear.lua 2>&1) || {
    printf '%s\n' "$ours"
    exit 1
}
ours=$(printf '%s\n' "$ours" | sed -n 's/^ *# bench| //p')
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
            printf "  %-46s %7d ops  mpod-lua %9.2f ms  Porcupine %9.2f ms  %5.2f x  target <= 1.0 x  %s\n",
                name, ops[f], ours[f] * 1000, theirs[f] * 1000, ratio, ratio <= 1.0 ? "PASS" : "MISS"
        }
        exit bad
    }'
