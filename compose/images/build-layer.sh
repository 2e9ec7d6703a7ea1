#!/bin/bash
# build-layer.sh: build a thin image on top of the mpod-lua base image with
# the classic builder, from a Dockerfile that copies a few files in.
#
#   compose/images/build-layer.sh [-c CHECK] TAG DOCKERFILE FILE...
#
# The build context is a temporary folder holding only FILE... (by base
# name), so nothing else of the tree is sent to the daemon; the Dockerfile
# takes `ARG BASE` for its FROM. The builder's own cache decides what to
# rebuild: when nothing changed the build is a cache hit that returns the
# image TAG already names, and nothing else happens. A new image is built
# untagged, must pass CHECK (a sh command run in it) and is only then
# tagged, so a failure leaves the previous TAG in place.
#
# On this Docker (fuse-overlayfs) every committed build step costs ~5 s, so
# the Dockerfiles have a single COPY and no metadata instructions; how each
# image runs is said in compose/docker-compose.yml.
set -eu
set -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

BASE=${BASE_IMAGE:-mpod-lua/base:bookworm}
check=""
if [ $# -ge 2 ] && [ "$1" = -c ]; then check=$2; shift 2; fi
[ $# -ge 3 ] || die "usage: build-layer.sh [-c CHECK] TAG DOCKERFILE FILE..."
tag=$1 dockerfile=$2
shift 2

[ -r "$dockerfile" ] || die "cannot read $dockerfile"
for f in "$@"; do
    [ -r "$f" ] || die "$tag needs $f, which does not exist (build it first)"
done

require_docker
lock_images
[ -n "$(image_id "$BASE")" ] || die "the base image $BASE does not exist (\`make images\` builds it)"

ctx=$(mktemp -d "${TMPDIR:-/tmp}/mpod-layer.XXXXXX")
new=""
cleanup() {
    rc=$?
    rm -rf "$ctx"
    # A built image that was not tagged is removed (if nothing else uses it).
    if [ $rc != 0 ] && [ -n "$new" ]; then docker rmi "$new" >/dev/null 2>&1 || true; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cp "$dockerfile" "$ctx/Dockerfile"
for f in "$@"; do cp -p "$f" "$ctx/$(basename "$f")"; done

old=$(image_id "$tag")
if ! DOCKER_BUILDKIT=0 docker build --force-rm --build-arg "BASE=$BASE" \
        --iidfile "$ctx/iid" "$ctx" > "$ctx/log" 2>&1; then
    grep -v -e '^DEPRECATED: ' -e '^ \{5,\}' "$ctx/log" | tail -n 25 | sed 's/^/  | /' >&2
    die "docker build of $tag ($dockerfile) failed"
fi
new=$(cat "$ctx/iid")
if [ "$new" = "$old" ]; then
    new=""
    drop_replaced ""
    say "$tag is up to date"
    exit 0
fi

if [ -n "$check" ] && ! out=$(docker run --rm --network none --entrypoint /bin/sh "$new" -ec "$check" 2>&1); then
    printf '%s\n' "$out" | sed 's/^/  | /' >&2
    die "$tag failed its check; the previous image (if any) is kept"
fi
docker tag "$new" "$tag" || die "docker tag $tag failed"
new=""
drop_replaced "$old"
say "built $tag"
