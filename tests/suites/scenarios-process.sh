#!/bin/sh
# scenarios-process.sh: part of `make test` (tests/run-all runs it through
# prove): every scenario of scenarios/ against the reference cluster on the
# process backend (compose/local.lua), as `make run` does. TAP on stdout;
# fails when a scenario fails or the cluster cannot be brought up.
exec "$(dirname "$0")/../run-scenarios" process
