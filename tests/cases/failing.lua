-- One passing and one failing test.
local mp = require "mpod"
mp.test("passes", function() end)
mp.test("fails", function()
  mp.expect({ a = 1 }):eq({ a = 2 })
end)
