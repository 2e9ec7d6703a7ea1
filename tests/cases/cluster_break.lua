-- Leaves the process cluster broken: a killed, worker stopped, b paused.
local mp = require "mpod"
mp.exclusive()
local c = mp.cluster()
mp.test("break three pods", function()
  c:pod("a"):kill()
  c:pod("worker"):stop(2)
  c:pod("b"):pause()
  mp.expect(c:pod("a"):state()):eq("exited")
end)
