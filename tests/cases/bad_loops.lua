-- Code that never ends: a loop that swallows the timeout with pcall, a loop
-- in a hook, endless recursion. Each test fails with its message; the last
-- one still passes. Run with a short test timeout (-T or { timeout = }).
local mp = require "mpod"
mp.describe("a hook that loops", function()
  mp.before_each(function() while true do end end)
  mp.test("never starts", function() end, { timeout = 0.3 })
end)
mp.test("a loop that swallows every error", function()
  while true do pcall(function() while true do end end) end
end, { timeout = 0.3 })
mp.test("endless recursion", function()
  local function f(n) return 1 + f(n + 1) end
  f(1)
end)
mp.test("the run goes on", function() end)
