# meshd-check.sh: run (by build-layer.sh, with sh -e) inside a freshly built
# mpod-lua/meshd image before it is tagged: every library meshd links must
# resolve in the base image. Names the missing ones otherwise.
missing=$(ldd /usr/local/bin/meshd | grep 'not found' || true)
if [ -n "$missing" ]; then
    echo "meshd needs libraries the base image lacks; add their Debian packages to compose/images/base-packages.txt:"
    echo "$missing"
    exit 1
fi
