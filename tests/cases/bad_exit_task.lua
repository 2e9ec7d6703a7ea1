-- os.exit from a spawned task while the test waits, and os.exit(true).
local mp = require "mpod"
mp.test("before", function() end)
mp.test("a task calls os.exit(true)", function()
  local t = mp.spawn(function() mp.sleep(0.05); os.exit(true) end)
  t:wait(5)
end)
mp.test("never runs", function() end)
