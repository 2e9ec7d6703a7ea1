#!/bin/sh
# control.sh: pod control figures, part of `make bench` (bench/bench.mk).
#
#   (a) compose backend, on the small test project (tests/clusters/
#       docker.lua, a static podsvc image built here): pod:kill() through
#       the Docker Engine API against `docker-compose kill -s SIGKILL` of
#       the same service (what the replaced framework spawned per call),
#       target at least 10x faster; pod:start() against `docker-compose
#       start`, and pod:logs_contain() against `docker-compose logs | grep`:
#       both ratios printed. Skipped, saying so, when Docker does not answer.
#   (b) process backend: the kill-to-ready time of a process pod (kill,
#       start, HTTP readiness), median over BENCH_ROUNDS rounds.
#
# Medians of BENCH_ROUNDS (default 10) rounds each, all in this one
# invocation. Exits 0 whatever the figures; non-zero only when it cannot
# measure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
mpod=$(realpath "${MPOD:-build/mpod-lua}")
build=${BUILD:-build}
rounds=${BENCH_ROUNDS:-10}
export BENCH_ROUNDS=$rounds BUILD=$build

state=$(mktemp -d "${TMPDIR:-/tmp}/mpod-bench-state.XXXXXX")
export MPOD_STATE_DIR=$state TAG="bench$$"
trap 'rm -rf "$state"' EXIT
trap 'exit 130' INT TERM

free_port() {
    "$mpod" "$here/free_port.lua" 2>/dev/null | sed -n 's/^ *# port //p'
}

# figure(output, name) -> the median ms a bench scenario noted
figure() {
    printf '%s\n' "$1" | sed -n "s/^ *# bench $2 //p"
}

# median_ms(command...) -> median wall time in ms of BENCH_ROUNDS runs,
# restarting service b before each run when RESTART is set
median_ms() {
    i=0; times=""
    while [ $i -lt "$rounds" ]; do
        [ -n "${RESTART:-}" ] && $compose start b >/dev/null 2>&1
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1 || true
        end=$(date +%s%N)
        times="$times $(( (end - start) / 1000 ))"
        [ -n "${AFTER:-}" ] && $AFTER >/dev/null 2>&1
        i=$((i + 1))
    done
    printf '%s\n' $times | sort -n | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((NR + 1) / 2)] / 1000 }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'
}

verdict() {
    awk -v r="$1" -v t="$2" 'BEGIN { print (r + 0 >= t) ? "PASS" : "MISS" }'
}

compose_part() {
    if ! docker info >/dev/null 2>&1; then
        echo "control (compose): SKIP: no Docker Engine answers"
        return 0
    fi
    ctx=$(mktemp -d)
    cp "$build/fixtures/podsvc" "$ctx/podsvc"
    docker build -q -t mpod-selftest/podsvc:latest -f tests/compose/podsvc.Dockerfile "$ctx" >/dev/null 2>&1
    rm -rf "$ctx"
    export PORT_A=$(free_port) PORT_B=$(free_port)
    "$mpod" up -C tests/clusters/docker.lua >/dev/null 2>&1
    out=$("$mpod" -C tests/clusters/docker.lua "$here/control_compose.lua" 2>/dev/null || true)
    compose="docker-compose -p mpod-selftest-$TAG -f tests/compose/docker-compose.yml"
    docker compose version >/dev/null 2>&1 && compose="docker compose -p mpod-selftest-$TAG -f tests/compose/docker-compose.yml"
    cli_kill=$(RESTART=1 median_ms $compose kill -s SIGKILL b)
    cli_start=$(AFTER="$compose kill -s SIGKILL b" median_ms $compose start b)
    $compose start b >/dev/null 2>&1
    cli_logs=$(median_ms sh -c "$compose logs b | grep -q started")
    "$mpod" down -C tests/clusters/docker.lua >/dev/null 2>&1
    kill=$(figure "$out" kill); start=$(figure "$out" start); logs=$(figure "$out" logs_contain)
    r=$(ratio "$cli_kill" "$kill")
    echo "control (compose): pod:kill() ${kill} ms vs docker-compose kill ${cli_kill} ms: ${r}x faster (target >= 10x) $(verdict "$r" 10)"
    echo "control (compose): pod:start() ${start} ms vs docker-compose start ${cli_start} ms: $(ratio "$cli_start" "$start")x faster"
    echo "control (compose): pod:logs_contain() ${logs} ms vs docker-compose logs | grep ${cli_logs} ms: $(ratio "$cli_logs" "$logs")x faster"
}

process_part() {
    export PORT_A=$(free_port) PORT_B=$(free_port)
    out=$("$mpod" --up -C tests/clusters/procs.lua "$here/control_process.lua" 2>/dev/null || true)
    echo "control (process): kill-to-ready of a process pod (kill, start, HTTP ready): $(figure "$out" kill_to_ready) ms (median of $rounds)"
}

compose_part
process_part
