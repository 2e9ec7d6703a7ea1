#!/bin/sh
# scenarios-compose-v5.sh: part of `make check` (tests/run-all runs it
# through prove): every scenario of scenarios/ against the reference cluster
# in Docker, as scenarios-compose.sh runs them, with the Go `docker compose`
# v5 as the compose CLI instead of v1 `docker-compose` (tests/with-compose-v5
# builds it the first time). Skipped in the ASan half of `make test`
# (MPOD_TEST_COMPOSE_V5=off), and when no Docker Engine answers. TAP on stdout.
if [ "${MPOD_TEST_COMPOSE_V5:-}" = off ]; then
    echo "1..0 # SKIP MPOD_TEST_COMPOSE_V5=off (the plain half of make test runs it)"
    exit 0
fi
if ! command -v docker >/dev/null 2>&1 ||
   ! timeout 30 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    echo "1..0 # SKIP no Docker Engine"
    exit 0
fi
cd "$(dirname "$0")/../.." || exit 1
exec tests/with-compose-v5 tests/run-scenarios compose
