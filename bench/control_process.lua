-- control_process.lua: kill-to-ready time of a process pod, for
-- bench/control.sh (on tests/clusters/procs.lua): pod:kill() then
-- pod:start() and pod:wait_ready() until its HTTP check passes.
local mp = require "mpod"
mp.exclusive()
local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS") or "10")

mp.test("kill to ready", function()
  local a = mp.cluster():pod("a")
  local times = {}
  for i = 1, ROUNDS do
    local t0 = mp.now()
    a:kill()
    a:start()
    a:wait_ready(30)
    times[i] = (mp.now() - t0) * 1000
  end
  table.sort(times)
  mp.note(string.format("bench kill_to_ready %.2f", times[(#times + 1) // 2]))
end, { timeout = 600 })
