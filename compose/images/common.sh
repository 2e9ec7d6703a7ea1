# common.sh: helpers shared by the image build scripts in compose/images/.
# Sourced, not run. Every message is prefixed with "make images:" so a
# failure inside `make` says where it comes from.

# Print a message on stderr.
say() { printf 'make images: %s\n' "$*" >&2; }

# Print an error on stderr and exit 1.
die() { printf 'make images: error: %s\n' "$*" >&2; exit 1; }

# Fail with a clear message unless the Docker daemon answers.
require_docker() {
    command -v docker >/dev/null 2>&1 ||
        die "the docker CLI is not installed (Debian: apt-get install docker.io)"
    if ! err=$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null); then
        die "cannot reach the Docker daemon at ${DOCKER_HOST:-unix:///var/run/docker.sock}: $err
  (is dockerd running, and may this user use its socket?)"
    fi
}

# Print the value of label $2 on image $1, or nothing when the image or the
# label is missing.
image_label() {
    docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

# Print the full id of image $1, or nothing when it does not exist.
image_id() {
    docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true
}

# Remove image $1 (the id a tag of ours pointed to before a rebuild), and
# those earlier calls could not, once nothing needs them: never one that has
# a tag; docker refuses while a container or a child image uses one (the
# cluster still runs the old image), and those are remembered, machine-wide
# as images are, in $REPLACED for the next build. Removing an image also
# removes the untagged parents it alone held. Call it holding the lock.
REPLACED=/tmp/mpod-lua-images.replaced
drop_replaced() {
    for id in ${1:+"$1"} $(cat "$REPLACED" 2>/dev/null); do
        tags=$(docker image inspect --format '{{join .RepoTags " "}}' "$id" 2>/dev/null) || continue
        [ -z "$tags" ] || continue
        docker rmi "$id" >/dev/null 2>&1 || echo "$id"
    done | sort -u > "$REPLACED.new" 2>/dev/null && mv -f "$REPLACED.new" "$REPLACED" 2>/dev/null
    return 0
}

# Hold the machine-wide image build lock until the script exits: two
# `make images` at once (parallel jobs, several build folders) would
# otherwise build the same image twice. A lock file this user cannot open
# means no locking, not a failure.
lock_images() {
    { exec 9>> /tmp/mpod-lua-images.lock; } 2>/dev/null || return 0
    if ! flock -n 9; then
        say "waiting for another image build on this machine to finish"
        flock 9
    fi
}
