#!/bin/sh
# scenarios-compose.sh: part of `make test` (tests/run-all runs it through
# prove): every scenario of scenarios/ against the reference cluster in
# Docker (compose/docker.lua), as `make run BACKEND=compose` does, building
# the images first when they are missing (several minutes cold). Skips when
# no Docker Engine answers or no compose CLI is installed. TAP on stdout.
docker_answers() {
    command -v docker >/dev/null 2>&1 &&
        timeout 30 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}
if ! docker_answers; then
    echo "1..0 # SKIP no Docker Engine"
    exit 0
fi
if ! timeout 30 docker compose version >/dev/null 2>&1 &&
   ! command -v docker-compose >/dev/null 2>&1; then
    echo "1..0 # SKIP no Docker Compose CLI (docker compose or docker-compose)"
    exit 0
fi
exec "$(dirname "$0")/../run-scenarios" compose
