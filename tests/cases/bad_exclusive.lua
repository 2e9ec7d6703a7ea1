-- mp.exclusive() inside a test and a hook: too late, since whether the
-- file runs alone is settled before its tests start.
local mp = require "mpod"
mp.test("asks to run alone too late", function()
  mp.exclusive()
end)
mp.describe("a block", function()
  mp.before_all(function() mp.exclusive() end)
  mp.test("its test", function() end)
end)
mp.test("after", function() end)
