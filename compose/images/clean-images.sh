#!/bin/bash
# clean-images.sh: remove the images `make images` builds (repositories
# mpod-lua/*), the base last since the others are built on it. Images of
# other names, even when built on the base, are left alone; docker refuses,
# and this script says so, while a container still uses one.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

require_docker
base=${BASE_IMAGE:-mpod-lua/base:bookworm}
tags=$(docker images --filter 'reference=mpod-lua/*' --format '{{.Repository}}:{{.Tag}}' |
    grep -v '<none>' | awk -v b="$base" '{ print ($1 == b), $1 }' | sort | cut -d' ' -f2)
[ -n "$tags" ] || { say "no mpod-lua images"; exit 0; }
for t in $tags; do
    docker rmi "$t" >/dev/null || die "could not remove $t (is a container still using it?)"
    say "removed $t"
done
