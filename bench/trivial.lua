-- trivial.lua: the smallest useful scenario file, for `make bench`
-- (bench/core.sh): one test, one expectation, no cluster.
local mp = require "mpod"
mp.test("one plus one", function() mp.expect(1 + 1):eq(2) end)
