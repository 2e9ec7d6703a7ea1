#!/bin/sh
# chaos-meshd.sh: part of `make test` (tests/run-all runs it through prove):
# tests/suites/chaos-meshd.lua, the chaos scenario (scenarios/chaos-meshd.lua)
# on plain meshd and on each planted-bug variant, which it must find and
# replay. It is a suite, not a file of tests/lua/, because it needs more
# than the 300 s a file gets by default: about 5 minutes (nine runs of the
# scenario of about 30 s, and a cluster brought up for each meshd).
# `make chaos` runs the same file with CHAOS_SEARCH=1. TAP on stdout.
cd "$(dirname "$0")/../.." || exit 1
LUA_PATH="tests/lua/lib/?.lua;;" exec "${MPOD:-build/mpod-lua}" -t 1800 tests/suites/chaos-meshd.lua
