-- Pod control on the process backend (tests/clusters/procs.lua): every
-- operation and the state it leaves.
local mp = require "mpod"
mp.exclusive()
local c = mp.cluster()

mp.test("pods, groups and unknown names", function()
  local names = {}
  for _, p in ipairs(c:pods()) do names[#names + 1] = p.name end
  mp.expect(names):eq { "a", "b", "worker" }
  mp.expect(#c:pods("web")):eq(2)
  mp.expect(c:pod("a").url):matches("^http://127%.0%.0%.1:%d+$")
  mp.expect(function() c:pod("nope") end):raises("no pod named 'nope' in cluster")
  mp.expect(c.backend):eq("process")
end)

mp.test("kill with KILL leaves the pod exited; start brings it back", function()
  local w = c:pod("worker")
  mp.expect(w:state()):eq("running")
  w:kill()
  mp.expect(w:state()):eq("exited")
  mp.expect(w:info().exit):eq("killed by SIGKILL")
  w:start()
  w:wait_ready(10)
  mp.expect(w:state()):eq("running")
end)

mp.test("kill with another signal reaches the process", function()
  local w = c:pod("worker")
  local since = mp.now()
  w:kill("HUP")
  mp.poll_until(function() return w:logs_contain("got SIGHUP", { since = since }) end,
    { timeout = 5, label = "worker logged SIGHUP" })
  mp.expect(w:state()):eq("running")
end)

mp.test("stop sends TERM and waits for a clean exit", function()
  local b = c:pod("b")
  b:stop(5)
  mp.expect(b:state()):eq("exited")
  mp.expect(b:info().exit):eq("exit code 0")
  local tail = b:logs { tail = 2 }
  mp.expect(tail):eq("b-" .. os.getenv("TAG") .. ": stopping\nb-" .. os.getenv("TAG") .. ": stopped\n")
  b:start()
  b:wait_ready(10)
end)

mp.test("pause and unpause", function()
  local a = c:pod("a")
  a:pause()
  mp.expect(a:state()):eq("paused")
  a:unpause()
  mp.expect(a:state()):eq("running")
end)

mp.test("restart", function()
  local w = c:pod("worker")
  local before = w:info().pid
  w:restart(2)
  w:wait_ready(10)
  mp.expect(w:info().pid):ne(before)
end)

mp.test("operations the backend cannot do say so", function()
  local err = mp.expect(function() c:pod("a"):isolate() end)
    :raises("pod:isolate() is not supported by the process backend")
  mp.expect(err.kind):eq("unsupported")
  err = mp.expect(function() c:partition({ "a" }, "web") end)
    :raises("c:partition() is not supported by the process backend")
  mp.expect(err.kind):eq("unsupported")
end)

mp.test("controlling a pod in the wrong state is a clear error", function()
  local w = c:pod("worker")
  w:stop(2)
  mp.expect(function() w:pause() end):raises("cannot pause pod worker: it is exited")
  w:start()
end)
