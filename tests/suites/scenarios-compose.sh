#!/bin/sh
# scenarios-compose.sh: part of `make test` (tests/run-all runs it through
# prove): every scenario of scenarios/ against the reference cluster in
# Docker (compose/docker.lua), as `make run BACKEND=compose` does, building
# the images first when they are missing (several minutes cold), with the
# compose CLI MPOD_COMPOSE names, v1 `docker-compose` when it is not set
# (scenarios-compose-v5.sh runs them with the Go `docker compose`). Skips
# when no Docker Engine answers or that CLI is not installed. TAP on stdout.
docker_answers() {
    command -v docker >/dev/null 2>&1 &&
        timeout 30 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}
if ! docker_answers; then
    echo "1..0 # SKIP no Docker Engine"
    exit 0
fi
: "${MPOD_COMPOSE:=docker-compose}"
export MPOD_COMPOSE
# shellcheck disable=SC2086
if ! timeout 30 $MPOD_COMPOSE version >/dev/null 2>&1; then
    echo "1..0 # SKIP the compose CLI '$MPOD_COMPOSE' does not run"
    exit 0
fi
exec "$(dirname "$0")/../run-scenarios" compose
