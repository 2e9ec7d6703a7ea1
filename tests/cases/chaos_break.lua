-- Breaks the chaos cluster (tests/clusters/chaos.lua) every way at once:
-- proxy faults (latency, then down), a killed, b paused, worker stopped;
-- then lingers, so a runner killed by tests/lua/chaos.lua can land
-- mid-file, and the healing after it has work to do.
local mp = require "mpod"
mp.exclusive()
local c = mp.cluster()
mp.test("faults and broken pods", function()
  c:proxy("web"):latency { ms = 500 }
  c:proxy("web"):down()
  c:pod("a"):kill()
  c:pod("b"):pause()
  c:pod("worker"):stop(1)
  mp.sleep(0.3)
end)
