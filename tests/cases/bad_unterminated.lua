-- A string that never ends.
local mp = require "mpod"
mp.test("never runs", function() print("unterminated) end)
