# compose/images.mk: the Docker images of the reference cluster, included by
# the top-level Makefile. No registry is ever used: the base image is
# debootstrapped from the Debian mirror of the host's apt sources, the rest
# are thin layers on it.
#
#   make images        mpod-lua/base:bookworm     Debian + postgresql, nats-server, meshd's libraries
#                      mpod-lua/postgres:15       + postgres-entrypoint
#                      mpod-lua/toxiproxy:latest  + toxiproxy-server, compose/toxiproxy.json
#                      mpod-lua/meshd:latest      + build/meshd
#   make toxiproxy     build/toxiproxy/toxiproxy-{server,cli} at vendor/toxiproxy.version
#   make compose-cli   build/compose-cli/cli-plugins/docker-compose, the Go
#                      `docker compose` at vendor/docker-compose.version, for
#                      DOCKER_CONFIG=build/compose-cli (make test runs the
#                      compose backend's tests under it and under v1)
#   make images-clean  remove every mpod-lua/* image
#
# Every step is cached against Docker itself, not stamp files: the base
# image's label holds a hash of what defines it (FORCE=1 rebuilds it anyway),
# the thin images are left to the builder's cache, so a warm `make images`
# takes seconds. Building the base needs root (debootstrap, chroot).

IMAGES_DIR      := compose/images
TOXIPROXY_DIR   := $(BUILD)/toxiproxy
# build/, whatever BUILD is: a Go program, the same for every build variant
COMPOSE_CLI_DIR := build/compose-cli

.PHONY: toxiproxy compose-cli images-clean

images: $(BUILD)/meshd toxiproxy
	@$(IMAGES_DIR)/build-base.sh $(BUILD)/images
	@$(IMAGES_DIR)/build-layer.sh mpod-lua/postgres:15 $(IMAGES_DIR)/postgres.Dockerfile \
		$(IMAGES_DIR)/postgres-entrypoint.sh
	@$(IMAGES_DIR)/build-layer.sh -c '/opt/toxiproxy/toxiproxy-server -version' \
		mpod-lua/toxiproxy:latest $(IMAGES_DIR)/toxiproxy.Dockerfile \
		$(TOXIPROXY_DIR)/toxiproxy-server $(TOXIPROXY_DIR)/toxiproxy-cli compose/toxiproxy.json
	@$(IMAGES_DIR)/build-layer.sh -c "$$(cat $(IMAGES_DIR)/meshd-check.sh)" \
		mpod-lua/meshd:latest $(IMAGES_DIR)/meshd.Dockerfile $(BUILD)/meshd

toxiproxy:
	@$(IMAGES_DIR)/build-toxiproxy.sh vendor/toxiproxy.version $(TOXIPROXY_DIR)

compose-cli:
	@$(IMAGES_DIR)/build-compose-cli.sh vendor/docker-compose.version $(COMPOSE_CLI_DIR)

images-clean:
	@$(IMAGES_DIR)/clean-images.sh
