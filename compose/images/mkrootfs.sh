#!/bin/bash
# mkrootfs.sh: make the file tree of the mpod-lua base image in ROOT (which
# must not exist): debootstrap a minbase Debian bookworm from the mirror the
# host's apt sources name, then, in a chroot, install base-packages.txt with
# the updates and security suites the host uses, and trim what Docker
# provides at run time. Run by build-base.sh, which owns ROOT's cleanup.
#
#   compose/images/mkrootfs.sh ROOT LOG
#
# This file and base-packages.txt define the image: build-base.sh hashes
# both, and rebuilds the image when either changes. Commands' output goes to
# LOG; a failing step shows the log's tail and exits 1.
# Environment: DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR override what the apt
# sources say.
set -eu
set -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

[ $# = 2 ] || die "usage: mkrootfs.sh ROOT LOG"
root=$1 log=$2
SUITE=bookworm
LIST=$here/base-packages.txt

packages=$(sed 's/#.*//' "$LIST" | xargs)
[ -n "$packages" ] || die "$LIST lists no packages"
[ ! -e "$root" ] || die "$root exists already"

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

say "debootstrap $SUITE from $mirror (a few minutes)"
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
