-- A failing test that talked to pods: its diagnostics quote what they
-- logged during it (a: SIGHUP; worker: nothing), not their start.
local mp = require "mpod"
local c = mp.cluster()
mp.test("fails after touching worker and a", function()
  local since = mp.now()
  local a = c:pod("a")
  c:pod("worker"):state()
  a:get("/health")
  a:kill("HUP")
  mp.poll_until(function() return a:logs_contain("got SIGHUP", { since = since }) end,
    { timeout = 5, label = "a logged SIGHUP" })
  mp.fail("on purpose")
end)
