-- A spawned task that fails and is never waited for fails its test; one
-- that still runs when the test ends is cancelled.
local mp = require "mpod"
local leftover
mp.test("unobserved failure", function()
  mp.spawn(function() mp.sleep(0.01); error("watcher saw a duplicate", 0) end)
  mp.sleep(0.1)
end)
mp.test("leftover task", function()
  leftover = mp.spawn(function() mp.sleep(60) end)
end)
mp.test("leftover was cancelled", function()
  mp.expect(leftover:status()):eq("cancelled")
end)
