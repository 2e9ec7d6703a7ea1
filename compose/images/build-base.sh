#!/bin/bash
# build-base.sh: build the mpod-lua/base Docker image from scratch, with no
# registry: mkrootfs.sh makes a Debian bookworm tree (debootstrap from the
# host's apt mirror, then base-packages.txt), `docker import` turns it into
# an image.
#
#   compose/images/build-base.sh [LOG_DIR]     (FORCE=1 rebuilds anyway)
#
# Cached: the image's label org.mpod-lua.base holds a hash of what defines
# it (base-packages.txt, mkrootfs.sh, the image config below); when the
# tagged image carries the current hash nothing happens. Atomic: the image
# is imported untagged, smoke-tested, and only then tagged, so a failure
# never leaves a half-built tag; the temporary tree is unmounted and removed
# on every exit, interrupts included.
# Environment: BASE_IMAGE (default mpod-lua/base:bookworm), TMPDIR, and
# DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR (see mkrootfs.sh).
set -eu
set -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

IMAGE=${BASE_IMAGE:-mpod-lua/base:bookworm}
LOG_DIR=${1:-.}
config=(
    'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    'ENV LANG=C.UTF-8'
    'CMD ["/bin/bash"]'
)
recipe=$( { cat "$here/base-packages.txt" "$here/mkrootfs.sh"; printf '%s\n' "${config[@]}"; } |
    sha256sum | cut -c1-16)

up_to_date() {
    [ -z "${FORCE:-}" ] && [ "$(image_label "$IMAGE" org.mpod-lua.base)" = "$recipe" ]
}

require_docker
if up_to_date; then
    say "$IMAGE is up to date (recipe $recipe)"
    exit 0
fi
lock_images
if up_to_date; then
    say "$IMAGE was just built by another make images (recipe $recipe)"
    exit 0
fi

[ "$(id -u)" = 0 ] ||
    die "building $IMAGE runs debootstrap and chroot, which need root (run \`make images\` as root)"
command -v debootstrap >/dev/null 2>&1 ||
    die "debootstrap is not installed (apt-get install debootstrap, or \`make deps\`)"

# Unmount whatever is still mounted below folder $1 (deepest first), then
# remove it without ever crossing into another file system.
remove_tree() {
    awk -v p="$1/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$1" 2>/dev/null || say "warning: could not remove $1"
}

# Under the lock no other build runs: a temporary folder left by one that
# was killed outright is stale.
tmp=${TMPDIR:-/var/tmp}
for stale in "$tmp"/mpod-base.*; do
    [ -d "$stale" ] || continue
    say "removing $stale, left by an earlier build that was killed"
    remove_tree "$stale"
done

mkdir -p "$LOG_DIR"
log=$(cd "$LOG_DIR" && pwd)/base-build.log
: > "$log"
work=$(mktemp -d "$tmp/mpod-base.XXXXXX")
imported=""
tagged=""

# Remove the temporary folder and an untagged import. Interrupts are
# ignored meanwhile: removing the tree takes a while, and a cleanup cut
# short would leave it behind.
cleanup() {
    rc=$?
    trap - EXIT
    trap '' INT TERM
    remove_tree "$work"
    if [ -n "$imported" ] && [ -z "$tagged" ]; then
        docker rmi "$imported" >/dev/null 2>&1 || true
    fi
    [ $rc = 0 ] || say "building $IMAGE failed or was interrupted; full log: $log"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "building $IMAGE (recipe $recipe)"
"$here/mkrootfs.sh" "$work/rootfs" "$log"

say "importing the tree into Docker"
tar --numeric-owner -C "$work/rootfs" -cf "$work/rootfs.tar" . 2>> "$log" ||
    die "packing the image tree failed"
changes=(--change "LABEL org.mpod-lua.base=$recipe")
for c in "${config[@]}"; do changes+=(--change "$c"); done
imported=$(docker import --message "mpod-lua base image, recipe $recipe" "${changes[@]}" \
    "$work/rootfs.tar") || die "docker import of the image tree failed"

# The image must run and hold every tool the cluster uses before it is tagged.
check='postgres --version && pg_isready --version && nats-server --version &&
    curl --version | head -n 1 && ip -V && iptables --version && ps --version'
if ! versions=$(docker run --rm --network none "$imported" sh -ec "$check" 2>&1); then
    printf '%s\n' "$versions" | sed 's/^/  | /' >&2
    die "the imported image failed its smoke test"
fi
printf '%s\n' "$versions" >> "$log"
old=$(image_id "$IMAGE")
docker tag "$imported" "$IMAGE" || die "docker tag $IMAGE failed"
tagged=1
drop_replaced "$old"
size=$(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%d MB", $1 / 1e6 }')
say "built $IMAGE ($size): $(printf '%s\n' "$versions" | sed -n 1,3p | tr '\n' ';' | sed 's/;$//')"
