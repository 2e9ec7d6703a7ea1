#!/bin/sh
# core.sh: the engine's first benchmark figures, part of `make bench`
# (bench/bench.mk). Two figures, each measured by hyperfine in one
# invocation so both sides share the machine's state:
#
#   (a) start-up: `mpod-lua trivial.lua` (one file, one test) against the
#       start-up of the curl CLI (`curl -s file:///dev/null`, which loads
#       the same libcurl); target: at most 1.5x.
#   (b) added cost per scenario file: the time of 200 trivial files minus
#       the time of 1, divided by 199; target: at most 3 ms per file.
#
# The figures judged are wall-clock medians; the CPU time (user + system,
# the process and its children) is printed beside them, because on a busy
# machine waiting for a CPU inflates the wall clock. Prints each figure
# with its target and PASS or MISS; exits 0 either way (a benchmark is not
# a test), non-zero only when it cannot measure. MPOD names the binary
# (default build/mpod-lua); BENCH_RUNS the runs of the start-up commands
# (default 60, as start-ups vary by 20% from run to run; the 200-file
# commands run a quarter as often, at least 5).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mpod=$(cd "$root" && realpath "${MPOD:-build/mpod-lua}")
runs=${BENCH_RUNS:-60}

for tool in hyperfine curl awk realpath; do
    command -v "$tool" >/dev/null || { echo "bench/core.sh: $tool is missing (make deps)" >&2; exit 2; }
done
[ -x "$mpod" ] || { echo "bench/core.sh: no $mpod (run make)" >&2; exit 2; }

# A folder of its own: no ./cluster.lua or scenarios/ to pick up.
work=$(mktemp -d "${TMPDIR:-/tmp}/mpod-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
mkdir "$work/many"
cp "$here/trivial.lua" "$work/trivial.lua"
i=1
while [ $i -le 200 ]; do
    cp "$here/trivial.lua" "$work/many/t$(printf %03d $i).lua"
    i=$((i + 1))
done
cd "$work"
export MPOD_CLUSTER=

# median(csv, row) -> the median in seconds of the row-th command
median() {
    awk -F, -v row="$2" 'NR == row + 1 { print $4 }' "$1"
}

# verdict(value, target) -> PASS | MISS
verdict() {
    awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "PASS" : "MISS" }'
}

echo "== core: start-up and per-file cost (hyperfine medians; load average $(cut -d' ' -f1-3 /proc/loadavg))"
hyperfine -N --style basic --warmup 3 --runs "$runs" --export-csv startup.csv \
    -n "mpod-lua trivial.lua" "$mpod trivial.lua" \
    -n "curl -s file:///dev/null" "curl -s file:///dev/null" >startup.txt 2>&1 \
    || { cat startup.txt; exit 1; }

runs_many=$(( runs / 4 > 5 ? runs / 4 : 5 ))
hyperfine -N --style basic --warmup 1 --runs "$runs_many" --export-csv files.csv \
    -n "1 file" "$mpod many/t001.lua" \
    -n "200 files" "$mpod $(ls many/*.lua | tr '\n' ' ')" >files.txt 2>&1 \
    || { cat files.txt; exit 1; }

# Columns of hyperfine's CSV: command,mean,stddev,median,user,system,min,max
# (seconds). Wall time is the median; CPU time is the mean of user + system
# over the process and its children, shown for context on a busy machine.
awk -F, -v runs="$runs" -v runs_many="$runs_many" '
    FNR == 1 { file++; next }
    { wall[file, FNR - 1] = $4; cpu[file, FNR - 1] = $5 + $6 }
    function ms(s) { return sprintf("%.1f ms", s * 1000) }
    function line(what, w, c) { printf "  %-44s %10s wall %10s cpu\n", what, ms(w), ms(c) }
    function verdict(v, t) { return v <= t ? "PASS" : "MISS" }
    END {
        line("mpod-lua trivial.lua (" runs " runs)", wall[1, 1], cpu[1, 1])
        line("curl -s file:///dev/null (" runs " runs)", wall[1, 2], cpu[1, 2])
        ratio = wall[1, 1] / wall[1, 2]
        printf "  %-44s %8.2f x   (cpu %.2f x)   target <= 1.5 x   %s\n",
            "(a) start-up, mpod-lua / curl", ratio, cpu[1, 1] / cpu[1, 2], verdict(ratio, 1.5)
        line("1 trivial file (" runs_many " runs)", wall[2, 1], cpu[2, 1])
        line("200 trivial files (" runs_many " runs)", wall[2, 2], cpu[2, 2])
        per = (wall[2, 2] - wall[2, 1]) / 199 * 1000
        printf "  %-44s %8.2f ms  (cpu %.2f ms)  target <= 3 ms    %s\n",
            "(b) added cost per file, (t200 - t1) / 199", per,
            (cpu[2, 2] - cpu[2, 1]) / 199 * 1000, verdict(per, 3)
    }' startup.csv files.csv
