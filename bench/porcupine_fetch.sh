#!/bin/sh
# porcupine_fetch.sh: fetch Porcupine (github.com/anishathalye/porcupine
# v1.3.1) from the Go module proxy into $BUILD/gomod, once (cached), and
# print its folder. Used by bench/linear.sh (the Go side of the
# comparison) and tests/lua/check.lua (the Jepsen etcd histories under
# test_data/jepsen, with Porcupine's verdicts). Nothing of it is committed.
# Exits 2 when go is missing, 1 when the download fails.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
version=v1.3.1
dir=$build/gomod/github.com/anishathalye/porcupine@$version
if [ -f "$dir/porcupine_test.go" ]; then echo "$dir"; exit 0; fi
command -v go >/dev/null || { echo "porcupine_fetch.sh: go is missing (make deps-dev)" >&2; exit 2; }
mkdir -p "$build/gomod"
cd "$build"
GOFLAGS=-modcacherw GOMODCACHE=$build/gomod GO111MODULE=on \
    go mod download -json "github.com/anishathalye/porcupine@$version" >/dev/null ||
    { echo "porcupine_fetch.sh: go mod download failed" >&2; exit 1; }
[ -f "$dir/porcupine_test.go" ] || { echo "porcupine_fetch.sh: no $dir after the download" >&2; exit 1; }
echo "$dir"
