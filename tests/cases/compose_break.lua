-- Leaves the compose cluster broken: a isolated, b paused.
local mp = require "mpod"
mp.exclusive()
local c = mp.cluster()
mp.test("break two pods", function()
  c:pod("a"):isolate()
  c:pod("b"):pause()
  mp.expect(c:pod("b"):state()):eq("paused")
end)
