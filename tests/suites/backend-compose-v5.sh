#!/bin/sh
# backend-compose-v5.sh: part of `make check` (tests/run-all runs it through
# prove): tests/lua/backend_compose.lua again, with the Go `docker compose`
# v5 as the compose CLI instead of v1 `docker-compose` (tests/with-compose-v5
# builds it the first time). Skipped in the ASan half of `make test`
# (MPOD_TEST_COMPOSE_V5=off), where v1 alone runs: the engine's code is the
# same, only the CLI differs. TAP on stdout.
if [ "${MPOD_TEST_COMPOSE_V5:-}" = off ]; then
    echo "1..0 # SKIP MPOD_TEST_COMPOSE_V5=off (the plain half of make test runs it)"
    exit 0
fi
cd "$(dirname "$0")/../.." || exit 1
exec tests/with-compose-v5 "${MPOD:-build/mpod-lua}" tests/lua/backend_compose.lua
