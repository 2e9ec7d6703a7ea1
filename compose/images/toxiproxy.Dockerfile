# toxiproxy.Dockerfile: Toxiproxy (built from source by `make toxiproxy`) on
# the mpod-lua base image, with compose/toxiproxy.json, the proxies it
# creates at start. Built by `make images` through build-layer.sh. Run as
#   /opt/toxiproxy/toxiproxy-server -host 0.0.0.0 -config /opt/toxiproxy/toxiproxy.json
ARG BASE=mpod-lua/base:bookworm
FROM $BASE
COPY toxiproxy-server toxiproxy-cli toxiproxy.json /opt/toxiproxy/
