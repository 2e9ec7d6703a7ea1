-- Skipped and to-do tests.
local mp = require "mpod"
mp.skip("skipped", function() error("must not run") end, "not on this backend")
mp.test("skipped by option", function() error("must not run") end, { skip = "flaky" })
mp.todo("todo failing", function() error("not implemented", 0) end, "ticket 7")
mp.todo("todo passing", function() end, "ticket 8")
mp.todo("todo without body", "ticket 9")
