-- A failing test that talked to pods: its diagnostics quote their logs.
local mp = require "mpod"
local c = mp.cluster()
mp.test("fails after touching worker and a", function()
  c:pod("worker"):state()
  c:pod("a"):get("/health")
  mp.fail("on purpose")
end)
