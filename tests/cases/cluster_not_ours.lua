-- How pods ended, as pod:info() tells it, when a separate `mpod-lua up`
-- started them (tests/clusters/procs.lua): the runner is not their parent,
-- so it reports the signal it sent and when it saw them gone. Each test
-- uses a pod no earlier test touched (one the runner started itself would
-- be its child).
local mp = require "mpod"
mp.exclusive()
local c = mp.cluster()
local NOT_OURS = "; it was started by another mpod%-lua process %(`mpod%-lua up`%), which got its exit status$"

mp.test("a pod that ended without a signal from the engine says so", function()
  local w = c:pod("worker")
  mp.expect(mp.exec({ "kill", "-KILL", tostring(w:info().pid) }).code):eq(0)
  mp.poll_until(function() return w:state() == "exited" end, { timeout = 5, label = "worker gone" })
  local info = w:info()
  mp.expect(info.signal):is_nil()
  mp.expect(info.exit):matches("^exit status unknown: no signal from the engine ended it" .. NOT_OURS)
end)

mp.test("a pod killed with KILL reads killed by SIGKILL", function()
  local t0 = os.time()
  local a = c:pod("a")
  a:kill()
  local info = a:info()
  mp.expect(info):matches { state = "exited", exit = "killed by SIGKILL", signal = "KILL" }
  mp.expect(info.ended_at):ge(t0)
end)

mp.test("a pod stopped with TERM reads how soon it ended after the signal", function()
  local b = c:pod("b")
  b:stop(5)
  local info = b:info()
  mp.expect(info.signal):eq("TERM")
  mp.expect(info.exit):matches("^exit status unknown: it ended within %d+%.%d%d s of SIGTERM from pod:stop" .. NOT_OURS)
end)
