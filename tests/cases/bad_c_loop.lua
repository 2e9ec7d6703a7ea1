-- A test stuck inside one C call (a pattern that backtracks for ages): the
-- count hook cannot stop it, the file timeout (-t) kills the file.
local mp = require "mpod"
mp.test("stuck in string.find", function()
  local s = string.rep("a", 4000)
  s:find(string.rep("a-", 12) .. "b")
end)
mp.test("never runs", function() end)
