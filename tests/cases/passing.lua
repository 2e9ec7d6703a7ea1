-- Two passing tests: the baseline for output and exit-code checks.
local mp = require "mpod"
mp.test("one plus one", function() mp.expect(1 + 1):eq(2) end)
mp.test("strings", function() mp.expect("abc"):matches("^a") end)
