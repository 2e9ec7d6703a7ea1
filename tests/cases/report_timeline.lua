-- report_timeline.lua: a real failing scenario for tests/lua/report_html.lua,
-- on the fixture cluster tests/clusters/procs.lua (pods a, b, worker):
-- traffic to two pods, b paused (a paused interval) and stopped and
-- started again (log lines), then a killed and an assertion that fails
-- because of it. Its report is loaded in a real browser.

local mp = require "mpod"

mp.exclusive()

mp.test("traffic, a pause, a restart, a kill, then a failed assertion", function()
  local c = mp.cluster()
  local a, b = c:pod("a"), c:pod("b")
  for i = 1, 6 do
    a:get("/items/" .. i)
    b:get("/items/" .. i)
  end
  b:pause()
  local answered = pcall(b.get, b, "/while-paused", { timeout = 0.3 })
  mp.note("b answered while paused: " .. tostring(answered))
  b:unpause()
  b:get("/after-pause")
  b:stop()
  b:start()
  a:get("/before-kill")
  a:kill()
  local reached = pcall(a.get, a, "/after-kill", { timeout = 1 })
  mp.expect(reached):eq(true)        -- fails: a is dead
end)
