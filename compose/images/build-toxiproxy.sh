#!/bin/sh
# build-toxiproxy.sh: build Toxiproxy (toxiproxy-server, toxiproxy-cli) from
# source with `go install` through the Go module proxy, at the version pinned
# in vendor/toxiproxy.version, into OUT_DIR (static binaries: CGO off).
#
#   compose/images/build-toxiproxy.sh VERSION_FILE OUT_DIR
#
# Cached: OUT_DIR/VERSION records what was built; when it matches the pin and
# both binaries are there, nothing happens. The binaries are installed into
# a temporary folder first and moved in place only when both built.
# Environment: GO (the go command; default: go on PATH, else /usr/local/go/bin/go).
set -eu

die() { printf 'make toxiproxy: error: %s\n' "$*" >&2; exit 1; }

[ $# = 2 ] || die "usage: $0 VERSION_FILE OUT_DIR"
pin_file=$1
out=$2
module=github.com/Shopify/toxiproxy/v2

[ -r "$pin_file" ] || die "cannot read the version pin $pin_file"
version=$(sed 's/#.*//' "$pin_file" | tr -d ' \t\r' | grep -v '^$' | head -n 1)
case "$version" in
    v[0-9]*.[0-9]*.[0-9]*) ;;
    *) die "$pin_file must hold one version such as v2.12.0 (found '$version')" ;;
esac

if [ -x "$out/toxiproxy-server" ] && [ -x "$out/toxiproxy-cli" ] &&
   [ "$(cat "$out/VERSION" 2>/dev/null)" = "$version" ]; then
    echo "make toxiproxy: toxiproxy $version is up to date in $out" >&2
    exit 0
fi

go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$go" ] || command -v "$go" >/dev/null 2>&1 ||
    die "no Go toolchain (looked for go on PATH and /usr/local/go/bin/go; set GO=...)"

mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "make toxiproxy: building toxiproxy $version from $module with $("$go" version)" >&2
# The real server and CLI; the version string as upstream's release sets it.
if ! GOBIN=$tmp/bin CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
    "$go" install -trimpath -ldflags "-s -w -X $module.Version=${version#v}" \
        "$module/cmd/server@$version" "$module/cmd/cli@$version"; then
    die "go install of toxiproxy $version failed (is the Go module proxy reachable? GOPROXY=$("$go" env GOPROXY))"
fi
[ -x "$tmp/bin/server" ] && [ -x "$tmp/bin/cli" ] || die "go install did not produce the server and cli binaries"

"$tmp/bin/server" -version | grep -q "${version#v}" ||
    die "the built toxiproxy-server does not report version ${version#v}"
mv -f "$tmp/bin/server" "$out/toxiproxy-server"
mv -f "$tmp/bin/cli" "$out/toxiproxy-cli"
echo "$version" > "$out/VERSION"
echo "make toxiproxy: built $out/toxiproxy-server and $out/toxiproxy-cli ($version)" >&2
