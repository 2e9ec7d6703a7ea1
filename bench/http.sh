#!/bin/sh
# http.sh: the HTTP figures, part of `make bench` (bench/bench.mk).
#
# Starts its own nginx (Debian nginx-light: one process, keep-alive, no
# access log, a generated config in a temp folder, a free loopback port)
# serving a 108-byte JSON file, and measures against it, in this one
# invocation:
#
#   (a) sequential keep-alive GETs, every body decoded as JSON, from one
#       scenario (bench/http_load.lua) against `wrk -t1 -c1`; target: at
#       least 0.8x. Beside it, the same for tests/fixtures/curlbench.c
#       with one transfer (bare libcurl, no parsing): the ceiling of any
#       client built on libcurl, and mpod-lua's ratio to it.
#   (b) the same from 64 mp.spawn tasks of one scenario against
#       tests/fixtures/curlbench.c, bare libcurl driving 64 transfers with
#       curl_multi_socket_action (the ceiling of what libcurl itself
#       does); target: at least 0.85x. The ratio to `wrk -t1 -c64` is
#       printed too.
#   (c) the RSS of one scenario process holding 1,000 SSE streams open
#       (bench/http_sse.lua, against the HTTP fixture); target: at most
#       64 MiB.
#   (d) the cost of the file's history (docs/history.md): (b)'s 64 tasks
#       with the engine recording every request, against the same with
#       MPOD_ENGINE_HISTORY=off; target: recording costs at most 3%
#       (ratio >= 0.97, on the rate and on the CPU per request).
#
# (a) and (b) run in BENCH_ROUNDS (default 3) alternating rounds of
# BENCH_SECONDS (default 3) per client; the median of the rounds' ratios is
# judged. CPU time per request (the client process) is printed beside each
# rate, and beside each ratio the ratio of CPU per request (the reference's
# over mpod-lua's, higher is better), because on a busy machine waiting for
# a CPU lowers the rates; also the connections each client opened (nginx's
# stub_status), which shows whether keep-alive connections were reused.
# Exits 0 whatever the figures; non-zero only when it cannot measure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
mpod=$(realpath "${MPOD:-build/mpod-lua}")
build=${BUILD:-build}
rounds=${BENCH_ROUNDS:-3}
seconds=${BENCH_SECONDS:-3}
curlbench=$build/fixtures/curlbench
export BUILD=$build BENCH_SECONDS=$seconds MPOD_CLUSTER=

nginx=$(command -v nginx || echo /usr/sbin/nginx)
for tool in "$nginx" wrk curl awk; do
    command -v "$tool" >/dev/null || { echo "bench/http.sh: $tool is missing (make deps)" >&2; exit 2; }
done
for file in "$mpod" "$curlbench" "$build/fixtures/httpfix"; do
    [ -x "$file" ] || { echo "bench/http.sh: no $file (run make BUILD=$build)" >&2; exit 2; }
done
# 1,000 streams need as many descriptors, here and in the fixture
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 4096 ] || ulimit -n 4096 2>/dev/null || true

work=$(mktemp -d "${TMPDIR:-/tmp}/mpod-bench-http.XXXXXX")
nginx_pid=""
cleanup() {
    [ -z "$nginx_pid" ] || { kill "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$("$mpod" "$here/free_port.lua" 2>/dev/null | sed -n 's/^ *# port //p')
[ -n "$port" ] || { echo "bench/http.sh: no free port" >&2; exit 2; }
mkdir "$work/www" "$work/tmp"
printf '%s\n' '{"name":"bench","version":1,"ok":true,"items":[1,2,3],"nested":{"text":"hello","pi":3.25},"tags":["a","b"]}' \
    >"$work/www/data.json"
cat >"$work/nginx.conf" <<EOF
master_process off;
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    keepalive_timeout 60s;
    keepalive_requests 100000000;
    default_type application/json;
    server {
        listen 127.0.0.1:$port;
        root $work/www;
        location = /nginx_status { stub_status; }
    }
}
EOF
"$nginx" -p "$work" -c "$work/nginx.conf" -e "$work/error.log" </dev/null >/dev/null 2>&1 &
nginx_pid=$!
url="http://127.0.0.1:$port/data.json"
i=0
until curl -sf -o /dev/null "$url"; do
    i=$((i + 1))
    if [ $i -gt 50 ] || ! kill -0 "$nginx_pid" 2>/dev/null; then
        echo "bench/http.sh: nginx did not start:" >&2; cat "$work/error.log" >&2; exit 1
    fi
    sleep 0.1
done

# with_cpu(command...) -> its output, then "cpu <user> <system>" (ticks)
with_cpu() {
    sh -c '"$@" || exit; echo "cpu $(cut -d" " -f16,17 /proc/$$/stat)"' with_cpu "$@"
}

ticks=$(getconf CLK_TCK)

# us_per(cpu line, requests) -> CPU microseconds per request
us_per() {
    printf '%s\n' "$1" | awk -v n="$2" -v hz="$ticks" '/^cpu / { printf "%.2f", ($2 + $3) / hz / n * 1e6 }'
}

# mpod_load(tasks) -> "rate cpu_us" of bench/http_load.lua
mpod_load() {
    out=$(BENCH_URL=$url BENCH_TASKS=$1 "$mpod" "$here/http_load.lua" 2>&1) \
        || { printf '%s\n' "$out" >&2; return 1; }
    printf '%s\n' "$out" | awk '$2 == "bench" { v[$3] = $4 } END { print v["rate"], v["cpu_us"] }'
}

# mpod_load_unrecorded(tasks) -> "rate cpu_us" of bench/http_load.lua with
# the engine's history recording off (MPOD_ENGINE_HISTORY=off): beside
# mpod_load, the cost of recording every request in the file's history
mpod_load_unrecorded() {
    MPOD_ENGINE_HISTORY=off mpod_load "$1"
}

# wrk_load(connections) -> "rate cpu_us"
wrk_load() {
    out=$(with_cpu wrk -t1 -c"$1" -d"${seconds}s" "$url" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
    rate=$(printf '%s\n' "$out" | awk '$1 == "Requests/sec:" { print $2 }')
    n=$(printf '%s\n' "$out" | awk '$2 == "requests" && $3 == "in" { print $1 }')
    echo "$rate $(us_per "$out" "$n")"
}

# curl_load(transfers) -> "rate cpu_us"
curl_load() {
    out=$(with_cpu "$curlbench" "$url" "$1" "$seconds" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
    rate=$(printf '%s\n' "$out" | sed -n 's/.* \([0-9.]*\) requests\/s$/\1/p')
    n=$(printf '%s\n' "$out" | sed -n 's/.*, \([0-9]*\) requests,.*/\1/p')
    echo "$rate $(us_per "$out" "$n")"
}

# accepted() -> the connections nginx has accepted so far, this query's
# own included
accepted() {
    curl -sf "http://127.0.0.1:$port/nginx_status" | awk 'NR == 3 { print $1 }'
}

# measure(round, name, client, n) -> "round name rate cpu_us connections"
# for the figures file, connections being those the client opened
measure() {
    before=$(accepted)
    figure=$("$3" "$4") || figure=""
    echo "$1 $2 $figure $(( $(accepted) - before - 1 ))"
}

echo "== http: keep-alive GETs of a 108-byte JSON file from nginx on loopback, $rounds rounds of $seconds s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
figures=$work/figures
: >"$figures"
r=1
while [ $r -le "$rounds" ]; do
    measure $r seq_mpod mpod_load 1 >>"$figures"
    measure $r seq_wrk wrk_load 1 >>"$figures"
    measure $r seq_curl curl_load 1 >>"$figures"
    # (d): recording on and off back to back, in alternating order, so
    # neither always runs on the machine the other left behind
    if [ $((r % 2)) = 1 ]; then
        measure $r c64_mpod mpod_load 64 >>"$figures"
        measure $r c64_nohist mpod_load_unrecorded 64 >>"$figures"
    else
        measure $r c64_nohist mpod_load_unrecorded 64 >>"$figures"
        measure $r c64_mpod mpod_load 64 >>"$figures"
    fi
    measure $r c64_curl curl_load 64 >>"$figures"
    measure $r c64_wrk wrk_load 64 >>"$figures"
    r=$((r + 1))
done
awk 'NF < 5 { print "bench/http.sh: no figure for " $2 " in round " $1 > "/dev/stderr"; exit 1 }' "$figures"

sse=$(BENCH_STREAMS=1000 "$mpod" "$here/http_sse.lua" 2>&1) || { printf '%s\n' "$sse" >&2; exit 1; }
printf '%s\n' "$sse" | awk '$2 == "bench" { print "sse", $3, $4 }' >>"$figures"

awk '
    $1 == "sse" { sse[$2] = $3; next }
    { rate[$1, $2] = $3; cpu[$1, $2] = $4; conns[$1, $2] = $5; if ($1 > rounds) rounds = $1 }
    function median(list, n,   i, j, t) {
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && list[j - 1] > list[j]; j--) { t = list[j]; list[j] = list[j - 1]; list[j - 1] = t }
        return list[int((n + 1) / 2)]
    }
    function med(what,   r, l) { for (r = 1; r <= rounds; r++) l[r] = rate[r, what]; return median(l, rounds) }
    function medratio(a, b,   r, l) { for (r = 1; r <= rounds; r++) l[r] = rate[r, a] / rate[r, b]; return median(l, rounds) }
    function medcpu(a, b,   r, l) { for (r = 1; r <= rounds; r++) l[r] = cpu[r, b] / cpu[r, a]; return median(l, rounds) }
    function verdict(ok) { return ok ? "PASS" : "MISS" }
    END {
        for (r = 1; r <= rounds; r++) {
            printf "  round %d, 1 at a time: mpod-lua %6.0f req/s (%5.1f us CPU/req, %4d conns)   curlbench %6.0f req/s (%5.1f us)   wrk -c1 %6.0f req/s (%5.1f us)   ratio %.2f x\n",
                r, rate[r, "seq_mpod"], cpu[r, "seq_mpod"], conns[r, "seq_mpod"], rate[r, "seq_curl"],
                cpu[r, "seq_curl"], rate[r, "seq_wrk"], cpu[r, "seq_wrk"], rate[r, "seq_mpod"] / rate[r, "seq_wrk"]
            printf "  round %d, 64 at once:  mpod-lua %6.0f req/s (%5.1f us CPU/req, %4d conns)   curlbench %6.0f req/s (%5.1f us, %d conns)   wrk -c64 %6.0f req/s (%5.1f us)   ratio %.2f x\n",
                r, rate[r, "c64_mpod"], cpu[r, "c64_mpod"], conns[r, "c64_mpod"], rate[r, "c64_curl"],
                cpu[r, "c64_curl"], conns[r, "c64_curl"], rate[r, "c64_wrk"], cpu[r, "c64_wrk"],
                rate[r, "c64_mpod"] / rate[r, "c64_curl"]
            printf "  round %d, history:     recording on %6.0f req/s (%5.1f us CPU/req)   off %6.0f req/s (%5.1f us)   ratio %.3f x\n",
                r, rate[r, "c64_mpod"], cpu[r, "c64_mpod"], rate[r, "c64_nohist"], cpu[r, "c64_nohist"],
                rate[r, "c64_mpod"] / rate[r, "c64_nohist"]
        }
        printf "  %-40s %8.0f req/s (median)\n", "mpod-lua, 1 task, GET + JSON decode", med("seq_mpod")
        printf "  %-40s %8.0f req/s (median)\n", "wrk -t1 -c1", med("seq_wrk")
        printf "  %-40s %8.0f req/s (median)\n", "curlbench, bare libcurl, 1 transfer", med("seq_curl")
        a = medratio("seq_mpod", "seq_wrk")
        printf "  %-40s %8.2f x (median of rounds)   target >= 0.8 x    %s   (CPU per request: %.2f x)\n",
            "(a) ratio mpod-lua / wrk -c1", a, verdict(a >= 0.8), medcpu("seq_mpod", "seq_wrk")
        printf "  %-40s %8.2f x (median of rounds)   the ceiling of a libcurl client for (a)\n",
            "    ratio bare libcurl / wrk -c1", medratio("seq_curl", "seq_wrk")
        printf "  %-40s %8.2f x (median of rounds)                      (CPU per request: %.2f x)\n",
            "    ratio mpod-lua / bare libcurl, 1", medratio("seq_mpod", "seq_curl"), medcpu("seq_mpod", "seq_curl")
        printf "  %-40s %8.0f req/s (median)\n", "mpod-lua, 64 tasks, GET + JSON decode", med("c64_mpod")
        printf "  %-40s %8.0f req/s (median)\n", "curlbench, bare libcurl, 64 transfers", med("c64_curl")
        printf "  %-40s %8.0f req/s (median)\n", "wrk -t1 -c64", med("c64_wrk")
        b = medratio("c64_mpod", "c64_curl")
        printf "  %-40s %8.2f x (median of rounds)   target >= 0.85 x   %s   (CPU per request: %.2f x)\n",
            "(b) ratio mpod-lua / bare libcurl", b, verdict(b >= 0.85), medcpu("c64_mpod", "c64_curl")
        printf "  %-40s %8.2f x (median of rounds)                      (CPU per request: %.2f x)\n",
            "    ratio mpod-lua / wrk -c64", medratio("c64_mpod", "c64_wrk"), medcpu("c64_mpod", "c64_wrk")
        printf "  %-40s %8.0f req/s (median)\n", "mpod-lua, 64 tasks, history recording off", med("c64_nohist")
        h = medratio("c64_mpod", "c64_nohist"); hc = medcpu("c64_mpod", "c64_nohist")
        printf "  %-40s %8.3f x (median of rounds)   target >= 0.97 x   %s   (CPU per request: %.3f x, %s)\n",
            "(d) history: recording on / off", h, verdict(h >= 0.97), hc, verdict(hc >= 0.97)
        rss = sse["rss_kib"] / 1024; hwm = sse["hwm_kib"] / 1024
        printf "  1000 SSE streams opened at once in %.2f s; scenario RSS %.1f MiB before, %.1f MiB open (%.1f KiB per stream)\n",
            sse["open_s"], sse["rss_before_kib"] / 1024, rss, (sse["rss_kib"] - sse["rss_before_kib"]) / 1000
        printf "  %-40s %8.1f MiB                       target <= 64 MiB   %s\n", "(c) peak RSS, 1000 SSE streams open", hwm, verdict(hwm <= 64)
    }' "$figures"
