-- history_control.lua: pod control and a partition on the process backend
-- (tests/clusters/procs.lua), for tests/lua/history.lua to find in the
-- exported history: pod.kill, pod.start, pod.pause, pod.unpause, no op
-- for calls that only look, a partition the backend refuses (fault.add
-- fail), and c:heal() (pod.heal).
local mp = require "mpod"
mp.exclusive()
local c = mp.cluster()

mp.test("control", function()
  local w = c:pod("worker")
  w:kill("KILL")
  w:start()
  w:wait_ready(10)
  w:pause()
  w:unpause()
  mp.expect(w:state()):eq("running")
  mp.expect(function() c:partition({ "a" }, { "b" }) end):raises("not supported by the process backend")
  c:heal()
end)
