-- With tests/clusters/stopsig.lua: the wrapper shell dies (TERM to it
-- alone) and the program behind it lives on; pod:stop() on the exited pod
-- still stops that program, with the service's stop signal.
local mp = require "mpod"
mp.test("stop reaches what a dead wrapper left running", function()
  local pod = mp.cluster():pod("wrapped")
  pod:kill("TERM")
  mp.poll_until(function() return pod:state() == "exited" end,
    { timeout = 10, label = "the wrapper is gone" })
  pod:stop()
  local f = io.open(assert(os.getenv("MARK")))
  mp.expect(f and f:read("a")):eq("INT\n")
end)
