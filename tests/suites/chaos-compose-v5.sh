#!/bin/sh
# chaos-compose-v5.sh: part of `make check` (tests/run-all runs it through
# prove): the compose half of tests/lua/chaos.lua (the runner SIGKILLed at
# random points, then no container, network or process may be left) again,
# with the Go `docker compose` v5 as the compose CLI (tests/with-compose-v5
# builds it the first time); about 50 s. The process half is not repeated
# (CHAOS_RUNS=0). Skipped in the ASan half of `make test`
# (MPOD_TEST_COMPOSE_V5=off). TAP on stdout.
if [ "${MPOD_TEST_COMPOSE_V5:-}" = off ]; then
    echo "1..0 # SKIP MPOD_TEST_COMPOSE_V5=off (the plain half of make test runs it)"
    exit 0
fi
cd "$(dirname "$0")/../.." || exit 1
CHAOS_RUNS=0 exec tests/with-compose-v5 "${MPOD:-build/mpod-lua}" tests/lua/chaos.lua
