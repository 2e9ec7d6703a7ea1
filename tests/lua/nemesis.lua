-- nemesis.lua: mp.nemesis (docs/history.md#the-nemesis): the schedule
-- and its seed (same seed, same schedule; another seed, another; derived
-- from --seed, the file and the test), max_down, usage errors; then on
-- the process backend (tests/clusters/procs.lua): faults injected and
-- healed beside a workload, recorded as process "nemesis", a nemesis cut
-- off by a failing test healed with its seed and schedule in the
-- diagnostics, and a run replayed with the same --seed.

local mp = require "mpod"
local procs = require "procs"
local st = require "selftest"
local sys = require "mpod.sys"

local OPTS = { faults = { "kill", "pause", "stop", "restart" }, targets = { "a", "b", "c", "d" },
               interval = { 0.1, 0.5 }, length = { 0.2, 2 }, duration = 60, max_down = 2 }

local function with(extra)
  local o = {}
  for k, v in pairs(OPTS) do o[k] = v end
  for k, v in pairs(extra) do o[k] = v end
  return o
end

mp.test("the same seed gives the same schedule; another seed another", function()
  local a = mp.nemesis.plan(with { seed = 42 })
  local b = mp.nemesis.plan(with { seed = 42 })
  local c = mp.nemesis.plan(with { seed = 43 })
  mp.expect(a.seed):eq(42)
  mp.expect(#a.events):gt(50)
  mp.expect(a.events):eq(b.events)
  mp.expect(a.events):ne(c.events)
  for _, ev in ipairs(a.events) do
    mp.expect(ev.at < 60):truthy()
    mp.expect(ev.pod == "a" or ev.pod == "b" or ev.pod == "c" or ev.pod == "d"):truthy()
    if ev.fault == "restart" then mp.expect(ev.length):is_nil() else mp.expect(ev.length):ge(0.2) end
  end
end)

mp.test("without a seed it comes from --seed, the file and the test", function()
  local a = mp.nemesis.plan(OPTS)
  mp.expect(a.events):eq(mp.nemesis.plan(OPTS).events)
  local d = mp.nemesis.derive
  mp.expect(a.seed):eq(d(require("mpod.scenario.runtime").options.seed, "tests/lua/nemesis.lua",
    "without a seed it comes from --seed, the file and the test", 1))
  local base = d(7, "f.lua", "t", 1)
  mp.expect(base):eq(d(7, "f.lua", "t", 1))
  mp.expect(base):ne(d(8, "f.lua", "t", 1))
  mp.expect(base):ne(d(7, "g.lua", "t", 1))
  mp.expect(base):ne(d(7, "f.lua", "u", 1))
  mp.expect(base):ne(d(7, "f.lua", "t", 2))
end)

-- The most pods down at once in a schedule (a restart takes no time).
local function most_down(events)
  local most = 0
  for _, ev in ipairs(events) do
    local n = 0
    for _, other in ipairs(events) do
      if other.pod and other.at <= ev.at and ev.at < other.at + (other.length or 0) then n = n + 1 end
    end
    most = math.max(most, n)
  end
  return most
end

mp.test("never more than max_down pods down at once", function()
  for seed = 1, 20 do
    local plan = mp.nemesis.plan(with { seed = seed, max_down = 1 + seed % 3 })
    local most = most_down(plan.events)
    mp.expect(most):le(1 + seed % 3)
    mp.expect(most):ge(1)
  end
end)

mp.test("count bounds a schedule; proxy faults take one proxy at a time", function()
  local plan = mp.nemesis.plan { faults = { { "latency", proxy = "db", ms = 200 } }, count = 5, seed = 1,
                                 interval = { 0.1, 0.2 }, length = { 1, 1 } }
  mp.expect(#plan.events):eq(5)
  for i, ev in ipairs(plan.events) do
    mp.expect(ev):matches { fault = "latency", proxy = "db" }
    if i > 1 then mp.expect(ev.at - plan.events[i - 1].at):ge(1) end   -- the last one ended
  end
end)

mp.test("bad options are usage errors", function()
  local function bad(opts, text)
    local err = mp.expect(function() mp.nemesis.plan(opts) end):raises(text)
    mp.expect(err.kind):eq("usage")
  end
  bad({ faults = { "explode" }, targets = { "a" }, count = 1 }, "unknown fault")
  bad({ faults = {}, targets = { "a" }, count = 1 }, "faults must be a list")
  bad({ faults = { "kill" }, targets = { "a" } }, "plan needs duration or count")
  bad({ faults = { "kill" }, targets = { "a" }, count = 1, max_down = 0 }, "max_down must be a whole number >= 1")
  bad({ faults = { "kill" }, targets = { "a" }, count = 1, interval = { 2, 1 } }, "interval must be")
  bad({ faults = { "kill" }, targets = {}, count = 1 }, "no pods to target")
  bad({ faults = { { "latency" } }, count = 1 }, "needs proxy")
  bad({ faults = { "kill" }, targets = { "a" }, count = 1, seed = 1.5 }, "seed must be an integer")
  bad({ faults = { "kill" }, targets = { "a" }, count = 1, colour = 1 }, "unknown option 'colour'")
end)

-- On the process backend ------------------------------------------------------------

local state_dir
mp.before_all(function() state_dir = assert(sys.mkdtemp("mpod-nemesis")) end)
mp.after_all(function() sys.rmtree(state_dir) end)

local function run_case(seed, dir)
  local e = procs.env()
  e.MPOD_STATE_DIR = state_dir
  return st.run({ "--up", "-C", "tests/clusters/procs.lua", "--seed", tostring(seed),
                  "--history", dir, st.case("nemesis_run") }, { env = e })
end

local function read_jsonl(path)
  local ops = {}
  for line in io.lines(path) do ops[#ops + 1] = mp.json.decode(line) end
  return ops
end

mp.test("a nemesis injects and heals; cut off by a failing test it still heals", function()
  local dir = state_dir .. "/h1"
  local r = run_case(7, dir)
  st.expect_code(r, 1)
  st.expect_line(r.stdout, "    ok 2 - a nemesis beside a workload, closed and healed")
  st.expect_line(r.stdout, "    ok 3 - a nemesis with a duration asked for its schedule still runs all of it")
  st.expect_line(r.stdout, "    not ok 4 - a nemesis cut off by a failing test")
  mp.expect(r.stdout):contains("      nemesis: |\n        seed ")
  mp.expect(r.stdout):contains("s: stop worker for 60.00 s\n")
  st.expect_line(r.stdout, "    ok 5 - the next test finds every pod running")
  -- the history: process "nemesis", each fault healed, never two pods down
  local down, most, open = 0, 0, {}
  for _, op in ipairs(read_jsonl(dir .. "/tests__cases__nemesis_run.jsonl")) do
    if op.f:match("^nemesis%.") then
      mp.expect(op.process):eq("nemesis")
      if op.type == "ok" and op.f ~= "nemesis.heal" and op.f ~= "nemesis.restart" then
        down = down + 1
        open[op.value.pod] = (open[op.value.pod] or 0) + 1
      elseif op.type == "ok" and op.f == "nemesis.heal" then
        down = down - 1
        open[op.value.pod] = open[op.value.pod] - 1
      end
      most = math.max(most, down)
    end
  end
  mp.expect(most):eq(1)
  for pod, n in pairs(open) do
    if n ~= 0 then mp.fail("a fault on " .. pod .. " was never healed") end
  end
end)

mp.test("the same --seed replays the schedule; another --seed changes it", function()
  local function schedule(seed)
    local r = run_case(seed, state_dir .. "/h" .. seed)
    return r.stdout:match("# schedule ([^\n]*)")
  end
  local first = schedule(11)
  mp.expect(first):matches("^%d+ [%d.]+:%a+:%a")
  mp.expect(schedule(11)):eq(first)
  mp.expect(schedule(12)):ne(first)
end)
