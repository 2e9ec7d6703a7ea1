#!/bin/bash
# clean-images.sh: remove every mpod-lua image (those carrying the label
# org.mpod-lua.base): the tagged ones, the base last since the others are
# built on it, then whatever they leave untagged. Docker refuses, and this
# script says so, while a container still uses one.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

require_docker
base=${BASE_IMAGE:-mpod-lua/base:bookworm}
tags=$(docker images --filter label=org.mpod-lua.base --format '{{.Repository}}:{{.Tag}}' |
    grep -v '<none>' | awk -v b="$base" '{ print ($1 == b), $1 }' | sort | cut -d' ' -f2)
for t in $tags; do
    docker rmi "$t" >/dev/null || die "could not remove $t (is a container still using it?)"
    say "removed $t"
done
prune_ours
[ -n "$tags" ] || say "no mpod-lua images"
