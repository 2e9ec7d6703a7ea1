-- Names that need escaping in TAP.
local mp = require "mpod"
mp.test("issue #42 \\ fixed", function() end)
mp.test("two\nlines", function() end)
mp.test("# SKIP fake directive", function() end)
