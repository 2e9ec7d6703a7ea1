-- A runaway Lua loop is stopped by the test timeout; the file goes on.
local mp = require "mpod"
mp.test("spins", function()
  local n = 0
  while true do n = n + 1 end
end, { timeout = 0.5 })
mp.test("spins inside pcall", function()
  while true do pcall(function() while true do end end) end
end, { timeout = 0.5 })
mp.test("next test runs", function() mp.expect(true):truthy() end)
