# postgres.Dockerfile: PostgreSQL 15 of the mpod-lua base image with its
# entrypoint, postgres-entrypoint (initdb on first start, then postgres on
# all interfaces with password auth). Built by `make images` through
# build-layer.sh. Run it as docker-compose.yml does: command
# postgres-entrypoint, stop signal SIGINT (fast shutdown; SIGTERM would wait
# for every client to hang up).
ARG BASE=mpod-lua/base:bookworm
FROM $BASE
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
