-- report_timeline.lua: a real failing scenario for tests/lua/report_html.lua,
-- on the fixture cluster tests/clusters/procs.lua (pods a, b, worker):
-- steady traffic to a and b from two tasks while b is paused (a paused
-- interval, its requests time out), stopped and started again (log lines,
-- a dead interval), then a is killed and an assertion fails because of it.
-- Its report is loaded in a real browser, and its screenshot is the one
-- in docs/report.md.

local mp = require "mpod"

mp.exclusive()

-- traffic(pod): a request every 40 ms until the test ends, whatever the
-- answer (timeouts and refusals are what the timeline is about)
local function traffic(pod)
  return mp.spawn(function()
    local i = 0
    while true do
      i = i + 1
      pcall(pod.get, pod, "/items/" .. i, { timeout = 0.25 })
      mp.sleep(0.04)
    end
  end)
end

mp.test("traffic, a pause, a restart, a kill, then a failed assertion", function()
  local c = mp.cluster()
  local a, b = c:pod("a"), c:pod("b")
  traffic(a)
  traffic(b)
  mp.sleep(0.4)
  b:pause()
  mp.sleep(0.5)
  b:unpause()
  mp.sleep(0.3)
  b:stop()
  mp.sleep(0.2)
  b:start()
  mp.sleep(0.3)
  a:kill()
  mp.sleep(0.3)
  local reached = pcall(a.get, a, "/after-kill", { timeout = 1 })
  mp.expect(reached):eq(true)        -- fails: a is dead
end)
