# meshd.Dockerfile: the reference app (build/meshd) on the mpod-lua base
# image, which carries its runtime libraries. Built by `make images` through
# build-layer.sh, whose context holds the meshd binary only. One step only
# (each costs seconds on this Docker): how it runs is in docker-compose.yml.
ARG BASE=mpod-lua/base:bookworm
FROM $BASE
COPY meshd /usr/local/bin/meshd
