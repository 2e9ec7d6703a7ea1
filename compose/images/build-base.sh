#!/bin/bash
# build-base.sh: build the mpod-lua/base Docker image from scratch, with no
# registry: debootstrap a minbase Debian bookworm from the mirror the host's
# apt sources name, install base-packages.txt in a chroot (with the updates
# and security suites the host uses), then `docker import` the tree.
#
#   compose/images/build-base.sh [LOG_DIR]     (FORCE=1 rebuilds anyway)
#
# Cached: the image carries a hash of base-packages.txt and this script in
# its label org.mpod-lua.base (inherited by the images built on it); when
# the tagged image has the current hash the script does nothing. Atomic:
# the image is imported untagged, smoke-tested, and only then tagged, so a
# failure never leaves a half-built tag; the temporary tree is unmounted and
# removed on every exit.
# Environment: BASE_IMAGE (default mpod-lua/base:bookworm), DEBIAN_MIRROR and
# DEBIAN_SECURITY_MIRROR to override what the apt sources say, TMPDIR.
set -eu
set -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

IMAGE=${BASE_IMAGE:-mpod-lua/base:bookworm}
SUITE=bookworm
LIST=$here/base-packages.txt
LOG_DIR=${1:-.}
PG_BIN=/usr/lib/postgresql/15/bin

packages=$(sed 's/#.*//' "$LIST" | xargs)
[ -n "$packages" ] || die "$LIST lists no packages"
recipe=$(cat "$LIST" "$here/build-base.sh" | sha256sum | cut -c1-16)

require_docker
prune_ours
if [ -z "${FORCE:-}" ] && [ "$(image_label "$IMAGE" org.mpod-lua.base)" = "$recipe" ]; then
    say "$IMAGE is up to date (recipe $recipe)"
    exit 0
fi

[ "$(id -u)" = 0 ] ||
    die "building $IMAGE runs debootstrap and chroot, which need root (run \`make images\` as root)"
command -v debootstrap >/dev/null 2>&1 ||
    die "debootstrap is not installed (apt-get install debootstrap, or \`make deps\`)"

# Print "URI SUITE" for every deb source apt is configured with (deb822 and
# one-line formats alike: apt parses them, we only read its answer).
apt_sources() {
    apt-get indextargets --no-release-info \
        --format '$(TARGET_OF) $(REPO_URI) $(RELEASE)' 2>/dev/null |
        awk '$1 == "deb" { print $2, $3 }' | sort -u
}

# Print the URI of the first source for suite $1, or nothing.
source_for() { apt_sources | awk -v s="$1" '$2 == s && !n++ { print $1 }'; }

mirror=${DEBIAN_MIRROR:-$(source_for "$SUITE")}
updates=${DEBIAN_MIRROR:-$(source_for "$SUITE-updates")}
security=${DEBIAN_SECURITY_MIRROR:-$(source_for "$SUITE-security")}
[ -n "$mirror" ] || die "no '$SUITE' source in the apt sources (/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list); set DEBIAN_MIRROR=<debian mirror URI>"
[ -n "$security" ] || say "note: no '$SUITE-security' source in the apt sources; the image gets no security updates"

mkdir -p "$LOG_DIR"
log=$(cd "$LOG_DIR" && pwd)/base-build.log
: > "$log"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/mpod-base.XXXXXX")
root=$work/rootfs
imported=""
tagged=""

# Unmount whatever is still mounted below $work (deepest first), then remove
# it without ever crossing into another file system.
cleanup() {
    rc=$?
    trap - EXIT INT TERM
    awk -v p="$work/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$work" 2>/dev/null || say "warning: could not remove $work"
    if [ -n "$imported" ] && [ -z "$tagged" ]; then
        docker rmi "$imported" >/dev/null 2>&1 || true
    fi
    [ $rc = 0 ] || say "building $IMAGE failed; full log: $log"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a command, its output into the log; on failure show the log's tail
# and stop with message $1.
logged() {
    what=$1; shift
    printf '\n$ %s\n' "$*" >> "$log"
    if ! "$@" >> "$log" 2>&1; then
        tail -n 25 "$log" | sed 's/^/  | /' >&2
        die "$what"
    fi
}

# Run a command inside the tree with a clean environment.
in_root() {
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LC_ALL=C DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1 "$@"
}

say "building $IMAGE (recipe $recipe): debootstrap $SUITE from $mirror (a few minutes)"
logged "debootstrap --variant=minbase $SUITE from $mirror failed" \
    debootstrap --variant=minbase --arch="$(dpkg --print-architecture)" "$SUITE" "$root" "$mirror"

# apt sources of the image: the same mirrors, suites main, updates, security.
{
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n' "$mirror" "$SUITE"
    [ -z "$updates" ] || printf '\nTypes: deb\nURIs: %s\nSuites: %s-updates\nComponents: main\n' "$updates" "$SUITE"
    [ -z "$security" ] || printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$SUITE"
} > "$root/etc/apt/sources.list.d/debian.sources"
rm -f "$root/etc/apt/sources.list"
[ -s "$root/etc/resolv.conf" ] || cp /etc/resolv.conf "$root/etc/resolv.conf"

# No services start inside the chroot, no documentation, no default cluster.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cat > "$root/etc/dpkg/dpkg.cfg.d/01-mpod-lua-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
EOF
mkdir -p "$root/etc/postgresql-common"
echo 'create_main_cluster = false' > "$root/etc/postgresql-common/createcluster.conf"

say "installing: $packages"
logged "apt-get update inside the image failed" in_root apt-get update
logged "apt-get dist-upgrade inside the image failed" in_root apt-get -y dist-upgrade
# shellcheck disable=SC2086
logged "apt-get install inside the image failed (a package of $LIST missing from $SUITE?)" \
    in_root apt-get install -y --no-install-recommends $packages
logged "apt-get clean inside the image failed" in_root apt-get clean

# Trim: what docker provides at run time, caches, logs, documentation.
rm -f "$root/usr/sbin/policy-rc.d"
rm -rf "$root/etc/postgresql/15/main" "$root/var/lib/postgresql/15/main"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/debconf/*-old
rm -rf "$root"/tmp/* "$root"/var/tmp/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
find "$root/usr/share/doc" -type f ! -name copyright -delete
find "$root/var/log" -type f -exec truncate -s 0 {} +
: > "$root/etc/resolv.conf"
: > "$root/etc/machine-id"

say "importing the tree into Docker"
logged "packing the image tree failed" tar --numeric-owner -C "$root" -cf "$work/rootfs.tar" .
imported=$(docker import --message "mpod-lua base image, recipe $recipe" \
    --change "LABEL org.mpod-lua.base=$recipe" \
    --change "ENV PATH=$PG_BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    "$work/rootfs.tar") || die "docker import of the image tree failed"

# The image must run and hold every tool the cluster uses before it is tagged.
check='postgres --version && pg_isready --version && nats-server --version &&
    curl --version | head -n 1 && ip -V && iptables --version && ps --version'
if ! versions=$(docker run --rm --network none "$imported" sh -ec "$check" 2>&1); then
    printf '%s\n' "$versions" | sed 's/^/  | /' >&2
    die "the imported image failed its smoke test"
fi
printf '%s\n' "$versions" >> "$log"
docker tag "$imported" "$IMAGE" || die "docker tag $IMAGE failed"
tagged=1
prune_ours
say "built $IMAGE ($(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%d MB", $1 / 1e6 }')): $(printf '%s\n' "$versions" | sed -n 1,3p | tr '\n' ';' | sed 's/;$//')"
