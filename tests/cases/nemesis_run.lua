-- nemesis_run.lua: mp.nemesis on tests/clusters/procs.lua, for
-- tests/lua/nemesis.lua: a nemesis that kills, pauses and stops pods
-- beside a workload and heals when closed; one cut off by a failing test
-- (healed at the test's end, its seed and schedule in the diagnostics);
-- the next test finds every pod running. Notes "schedule <seed> <faults>"
-- let the caller compare runs with the same and other --seed.
local mp = require "mpod"
mp.exclusive()
local c = mp.cluster()

local function all_running()
  for _, p in ipairs(c:pods()) do
    if p:state() ~= "running" then return false, p.name .. " is " .. p:state() end
  end
  return true
end

mp.test("the schedule follows the seed", function()
  local plan = mp.nemesis.plan { faults = { "kill", "pause", "stop" }, targets = { "a", "b", "worker" },
                                 interval = { 0.2, 0.5 }, length = { 0.2, 0.8 }, count = 8 }
  local text = {}
  for _, ev in ipairs(plan.events) do text[#text + 1] = string.format("%.3f:%s:%s", ev.at, ev.fault, ev.pod) end
  mp.note("schedule " .. plan.seed .. " " .. table.concat(text, ","))
end)

mp.test("a nemesis beside a workload, closed and healed", function()
  local h = mp.history()
  local nem <close> = mp.nemesis { faults = { "kill", "pause", "stop", "restart" }, targets = { "worker", "b" },
                                   interval = { 0.2, 0.4 }, length = { 0.3, 0.6 }, max_down = 1 }
  local planned = nem:schedule(20)      -- drawn ahead: the task still walks them in order
  local deadline = mp.now() + 3
  while mp.now() < deadline do
    local op = h:invoke("tick", nil)
    mp.sleep(0.05)
    op:ok()
  end
  nem:close()
  local ok, why = all_running()
  if not ok then mp.fail(why) end
  local injected = 0
  for _, op in ipairs(h:ops { process = "nemesis", type = "ok" }) do
    if op.f ~= "nemesis.heal" and op.f:match("^nemesis%.") then injected = injected + 1 end
  end
  mp.expect(injected):ge(3)
  mp.note("injected " .. injected)
  local done = {}
  for _, op in ipairs(h:ops { process = "nemesis", type = "invoke" }) do
    if op.f:match("^nemesis%.") and op.f ~= "nemesis.heal" then done[#done + 1] = op end
  end
  for i, op in ipairs(done) do
    if op.f ~= "nemesis." .. planned[i].fault or op.pod ~= planned[i].pod then
      mp.fail(string.format("fault %d was %s on %s, the schedule said %s on %s", i, op.f, op.pod,
        planned[i].fault, planned[i].pod))
    end
  end
end)

local DURATION_TEST = "a nemesis with a duration asked for its schedule still runs all of it"
mp.test(DURATION_TEST, function()
  local h = mp.history()
  local nem <close> = mp.nemesis { faults = { "pause" }, targets = { "b" }, interval = { 0.2, 0.3 },
                                   length = { 0.1, 0.1 }, duration = 1.5 }
  local planned = nem:schedule()        -- every fault of the run, drawn at once
  mp.expect(#planned):ge(4)
  mp.sleep(2)
  nem:close()
  local injected = #h:ops { process = "nemesis", type = "ok", f = "nemesis.pause", test = DURATION_TEST }
  mp.expect(injected):eq(#planned)
end)

mp.test("a nemesis cut off by a failing test", function()
  mp.nemesis { faults = { "stop" }, targets = { "worker" }, interval = { 0.05, 0.05 },
               length = { 60, 60 } }
  mp.poll_until(function() return c:pod("worker"):state() == "exited" end,
    { timeout = 10, label = "the nemesis stopped worker" })
  mp.fail("on purpose, with worker stopped")
end)

mp.test("the next test finds every pod running", function()
  local ok, why = all_running()
  if not ok then mp.fail(why) end
end)
