#!/bin/sh
# build-compose-cli.sh: build the Go Docker Compose CLI (`docker compose`,
# the v2 line, now v5) from source through the Go module proxy, at the
# version pinned in vendor/docker-compose.version, as a Docker CLI plugin:
# OUT_DIR/cli-plugins/docker-compose (static: CGO off). With
# DOCKER_CONFIG=OUT_DIR, `docker compose` runs it (the tests run the
# compose backend under it and under v1 `docker-compose`).
#
#   compose/images/build-compose-cli.sh VERSION_FILE OUT_DIR
#
# `go install module@version` refuses compose's module (its go.mod has
# exclude directives), so the build resolves it in a scratch module of its
# own: `go mod init`, `go get` of the pinned version, `go build`. Cached:
# OUT_DIR/VERSION records what was built; when it matches the pin and the
# plugin is there, nothing happens. The plugin is built in a temporary
# folder and moved in place only when it reports the pinned version.
# Environment: GO (the go command; default: go on PATH, else /usr/local/go/bin/go).
set -eu

die() { printf 'make compose-cli: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'make compose-cli: %s\n' "$*" >&2; }

[ $# = 2 ] || die "usage: $0 VERSION_FILE OUT_DIR"
pin_file=$1
out=$2
module=github.com/docker/compose/v5

[ -r "$pin_file" ] || die "cannot read the version pin $pin_file"
version=$(sed 's/#.*//' "$pin_file" | tr -d ' \t\r' | grep -v '^$' | head -n 1)
case "$version" in
    v5.[0-9]*.[0-9]*) ;;
    *) die "$pin_file must hold one v5 version such as v5.6.0 (found '$version')" ;;
esac

plugin=$out/cli-plugins/docker-compose
if [ -x "$plugin" ] && [ "$(cat "$out/VERSION" 2>/dev/null)" = "$version" ]; then
    say "docker compose $version is up to date in $out"
    exit 0
fi

go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$go" ] || command -v "$go" >/dev/null 2>&1 ||
    die "no Go toolchain (looked for go on PATH and /usr/local/go/bin/go; set GO=...)"

mkdir -p "$out/cli-plugins"
out=$(cd "$out" && pwd)
plugin=$out/cli-plugins/docker-compose
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "building docker compose $version from $module with $("$go" version) (a few minutes)"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
if ! (cd "$tmp" && "$go" mod init mpod-lua/compose-cli >/dev/null 2>&1 &&
      "$go" get "$module/cmd@$version" 2>"$tmp/get.log" &&
      "$go" build -trimpath -ldflags "-s -w -X $module/internal.Version=$version" \
          -o "$tmp/docker-compose" "$module/cmd"); then
    tail -n 20 "$tmp/get.log" >&2 2>/dev/null || true
    die "the build of docker compose $version failed (is the Go module proxy reachable? GOPROXY=$("$go" env GOPROXY))"
fi

DOCKER_CONFIG=$tmp/none "$tmp/docker-compose" version | grep -q "$version" ||
    die "the built docker-compose does not report version $version"
mv -f "$tmp/docker-compose" "$plugin"
echo "$version" > "$out/VERSION"
say "built $plugin ($version); use it with DOCKER_CONFIG=$out docker compose"
