-- mpod/scenario/nemesis.lua: mp.nemesis{...}, faults on a schedule beside
-- the workload (docs/history.md#the-nemesis).
--
-- A nemesis draws its schedule from a random generator of its own
-- (splitmix64, never math.random's) seeded from the run's --seed, the
-- file and the test (or `seed`), so the same seed gives the same schedule,
-- and a failure replays. The schedule is a list of faults {at=, fault=,
-- pod= | proxy=, length=}, `at` seconds after the nemesis starts, never
-- more than max_down pods down at once; mp.nemesis.plan{...} and
-- nem:schedule() compute it without running anything.
--
-- One task (process "nemesis" in the history) walks the schedule: it
-- injects each fault (nemesis.<fault> ops), and heals it `length` later
-- (nemesis.heal ops), one step after the other, so a heal is done before
-- any later fault begins. Closing the nemesis (nem:close(), `<close>`, or
-- the end of the test that made it, however it ended) stops the task
-- between two steps and heals what it left down. A failing test's
-- diagnostics show the seed and the schedule (`nemesis:`).

local errors = require "mpod.error"
local history = require "mpod.scenario.history"
local runtime = require "mpod.scenario.runtime"
local sched = require "mpod.sched"

local M = {}

local POD_FAULTS = { kill = true, stop = true, pause = true, restart = true, isolate = true }
local PROXY_FAULTS = { latency = true, timeout = true, down = true, reset_peer = true, bandwidth = true }
local DEFAULTS = { interval = { 1, 3 }, length = { 1, 3 }, max_down = 1 }
local READY_TIMEOUT = 60        -- a killed or stopped pod's readiness after its start
local STOP_WAIT = 120           -- closing waits this long for the step under way
local SHOWN_STEPS = 60          -- schedule lines in a failure's diagnostics

-- The random generator ------------------------------------------------------------

local Rng = {}
Rng.__index = Rng

local function new_rng(seed)
  return setmetatable({ s = seed }, Rng)
end

-- rng:next() -> 64 random bits (splitmix64; Lua integers wrap)
function Rng:next()
  self.s = self.s + 0x9e3779b97f4a7c15
  local z = self.s
  z = (z ~ (z >> 30)) * 0xbf58476d1ce4e5b9
  z = (z ~ (z >> 27)) * 0x94d049bb133111eb
  return z ~ (z >> 31)
end

-- rng:uniform(a, b) -> a number in [a, b)
function Rng:uniform(a, b)
  return a + (b - a) * ((self:next() >> 11) / 9007199254740992.0)
end

-- rng:pick(n) -> an integer in 1..n
function Rng:pick(n)
  return (self:next() >> 1) % n + 1
end

-- derive(run_seed, file, test, n) -> a seed from the run's seed, the file,
-- the test and the nemesis's number in that test (FNV-1a, 63 bits)
local function derive(run_seed, file, test, n)
  local text = string.format("%s\0%s\0%s\0%d", tostring(run_seed or 0), file or "", test or "", n)
  local h = 0xcbf29ce484222325
  for i = 1, #text do h = (h ~ text:byte(i)) * 0x100000001b3 end
  return h & 0x7fffffffffffffff
end
M.derive = derive

-- Options ----------------------------------------------------------------------------

local function usage(fmt, ...)
  errors.usage("mp.nemesis: " .. string.format(fmt, ...))
end

-- range(v, what) -> {min, max} from a number or a pair, checked
local function range(v, what)
  if type(v) == "number" then v = { v, v } end
  if type(v) ~= "table" or type(v[1]) ~= "number" or type(v[2]) ~= "number"
     or v[1] < 0 or v[2] < v[1] or v[2] == math.huge then
    usage("%s must be seconds or {min, max} with 0 <= min <= max, got %s", what,
      require("mpod.inspect").inspect(v, 80))
  end
  return { v[1], v[2] }
end

-- One fault of the `faults` list: "kill" (a pod fault) or {"latency",
-- proxy = "db", ms = 300} (a proxy fault and its options).
local function fault_spec(f, backend)
  if type(f) == "string" and POD_FAULTS[f] then
    if f == "isolate" and backend == "process" then
      usage("isolate needs the compose backend (pods of the process backend share the host's network)")
    end
    return { name = f }
  end
  if type(f) == "table" and PROXY_FAULTS[f[1]] then
    if type(f.proxy) ~= "string" then usage("the %s fault needs proxy = \"<name>\"", f[1]) end
    local opts = {}
    for k, v in pairs(f) do if k ~= 1 and k ~= "proxy" then opts[k] = v end end
    return { name = f[1], proxy = f.proxy, opts = opts }
  end
  usage("unknown fault %s (pod faults: kill, stop, pause, restart, isolate; proxy faults: " ..
    "{\"latency\" | \"timeout\" | \"down\" | \"reset_peer\" | \"bandwidth\", proxy = name, ...})",
    require("mpod.inspect").inspect(f, 80))
end

-- target_names(targets) -> sorted pod names: a list of pods or names, a
-- group's name, a function(pod) -> bool over the cluster's pods, or nil
-- (every pod)
local function target_names(targets)
  local names = {}
  if type(targets) == "table" then
    for _, p in ipairs(targets) do
      local name = type(p) == "table" and p.name or p
      if type(name) ~= "string" then usage("targets must be pods or pod names") end
      names[#names + 1] = name
    end
  else
    local c = require("mpod.scenario.cluster").get()
    if type(targets) == "string" then
      for _, p in ipairs(c:pods(targets)) do names[#names + 1] = p.name end
    else
      if targets ~= nil and type(targets) ~= "function" then
        usage("targets must be a list of pods or names, a group name or a function(pod)")
      end
      for _, p in ipairs(c:pods()) do
        if targets == nil or targets(p) then names[#names + 1] = p.name end
      end
    end
  end
  table.sort(names)
  return names
end

local function cluster_backend()
  local ok, c = pcall(require("mpod.scenario.cluster").get)
  return ok and c.backend or nil
end

-- options(opts) -> the checked options, the seed and what it came from
local function options(opts, n)
  if type(opts) ~= "table" then usage("expects a table of options") end
  local known = { faults = true, targets = true, interval = true, length = true, duration = true,
                  max_down = true, seed = true, count = true }
  for k in pairs(opts) do
    if not known[k] then
      usage("unknown option '%s' (faults, targets, interval, length, duration, max_down, seed, count)",
        tostring(k))
    end
  end
  if type(opts.faults) ~= "table" or #opts.faults == 0 then
    usage("faults must be a list, such as {\"kill\", \"pause\"}")
  end
  local backend = cluster_backend()
  local o = { faults = {}, interval = range(opts.interval or DEFAULTS.interval, "interval"),
              length = range(opts.length or DEFAULTS.length, "length"),
              max_down = opts.max_down or DEFAULTS.max_down, duration = opts.duration,
              count = opts.count }
  local pod_faults = false
  for i, f in ipairs(opts.faults) do
    o.faults[i] = fault_spec(f, backend)
    pod_faults = pod_faults or not o.faults[i].proxy
  end
  if math.type(o.max_down) ~= "integer" or o.max_down < 1 then
    usage("max_down must be a whole number >= 1, got %s", tostring(o.max_down))
  end
  if o.duration ~= nil and (type(o.duration) ~= "number" or o.duration <= 0 or o.duration == math.huge) then
    usage("duration must be a positive number of seconds, got %s", tostring(o.duration))
  end
  if o.count ~= nil and (math.type(o.count) ~= "integer" or o.count < 0) then
    usage("count must be a whole number >= 0, got %s", tostring(o.count))
  end
  if o.interval[2] <= 0 then usage("interval must allow some time between faults") end
  o.targets = pod_faults and target_names(opts.targets) or {}
  if pod_faults and #o.targets == 0 then usage("no pods to target") end
  if opts.seed ~= nil then
    if math.type(opts.seed) ~= "integer" then usage("seed must be an integer, got %s", tostring(opts.seed)) end
    o.seed, o.seed_from = opts.seed, "given"
  else
    local h = history.current()
    local test = h and h.test
    o.seed = derive(runtime.options.seed, runtime.file, test, n)
    o.seed_from = string.format("--seed %s, %s, %s", tostring(runtime.options.seed),
      tostring(runtime.file), test and ("test " .. string.format("%q", test)) or "no test")
  end
  return o
end

-- The schedule ---------------------------------------------------------------------------

local Schedule = {}
Schedule.__index = Schedule

local function new_schedule(o)
  return setmetatable({ o = o, rng = new_rng(o.seed), t = 0, events = {}, down = {},
                        proxies = {}, done = false }, Schedule)
end

-- Forget the faults whose window ended by time t.
local function expire(active, t)
  local n = 0
  for key, till in pairs(active) do
    if till <= t then active[key] = nil else n = n + 1 end
  end
  return n
end

-- sch:next() -> the next fault of the schedule, or nil past its duration
-- or count
function Schedule:next()
  local o, rng = self.o, self.rng
  while not self.done do
    if o.count and #self.events >= o.count then break end
    self.t = self.t + rng:uniform(o.interval[1], o.interval[2])
    if o.duration and self.t >= o.duration then break end
    local down = expire(self.down, self.t)
    expire(self.proxies, self.t)
    local spec = o.faults[rng:pick(#o.faults)]
    local length = spec.name ~= "restart" and rng:uniform(o.length[1], o.length[2]) or nil
    local event
    if spec.proxy then
      if not self.proxies[spec.proxy] then
        event = { at = self.t, fault = spec.name, proxy = spec.proxy, opts = spec.opts, length = length }
        self.proxies[spec.proxy] = self.t + length
      end
    elseif down < o.max_down then
      local free = {}
      for _, name in ipairs(o.targets) do
        if not self.down[name] then free[#free + 1] = name end
      end
      if #free > 0 then
        event = { at = self.t, fault = spec.name, pod = free[rng:pick(#free)], length = length }
        self.down[event.pod] = self.t + (length or 0)
      end
    end
    if event then
      self.events[#self.events + 1] = event
      return event
    end
  end
  self.done = true
  return nil
end

-- sch:all() -> every fault (the schedule must be bounded)
function Schedule:all()
  while self:next() do end
  return self.events
end

-- describe_event(ev) -> "0.84 s: kill b for 1.20 s"
local function describe_event(ev)
  return string.format("%.2f s: %s %s%s", ev.at, ev.fault, ev.pod or ("proxy " .. ev.proxy),
    ev.length and string.format(" for %.2f s", ev.length) or "")
end
M.describe_event = describe_event

-- copy of the public fields of the events
local function public_events(events)
  local out = {}
  for i, ev in ipairs(events) do
    out[i] = { at = ev.at, fault = ev.fault, pod = ev.pod, proxy = ev.proxy, length = ev.length }
  end
  return out
end

-- mp.nemesis.plan{...} -> {seed=, events={{at=, fault=, pod=|proxy=,
-- length=}, ...}}: the schedule, computed without running it; needs
-- duration or count
function M.plan(opts)
  local o = options(opts, 1)       -- the seed of the test's first nemesis
  if not o.duration and not o.count then usage("plan needs duration or count: a schedule without end never ends") end
  return { seed = o.seed, events = public_events(new_schedule(o):all()) }
end

-- Running ----------------------------------------------------------------------------------

local Nemesis = {}
Nemesis.__index = Nemesis
M.Nemesis = Nemesis

local function cluster() return require("mpod.scenario.cluster").get() end

-- The calls that make and undo each fault.
local function inject_call(ev)
  local c = cluster()
  if ev.proxy then
    local proxy = c:proxy(ev.proxy)
    return function() return proxy[ev.fault](proxy, ev.opts) end
  end
  local pod = c:pod(ev.pod)
  if ev.fault == "kill" then return function() return pod:kill("KILL") end end
  return function() return pod[ev.fault](pod) end
end

local UNDO = { kill = "start", stop = "start", pause = "unpause", isolate = "rejoin" }

local function heal_call(ev)
  local c = cluster()
  if ev.proxy then
    local proxy = c:proxy(ev.proxy)
    if ev.fault == "down" then return function() return proxy:up() end end
    return function() return proxy:clear() end
  end
  local pod = c:pod(ev.pod)
  local undo = UNDO[ev.fault]
  return function()
    pod[undo](pod)
    if undo == "start" then pod:wait_ready(READY_TIMEOUT) end
  end
end

local function millis(t)
  return t and math.floor(t * 1000 + 0.5) / 1000
end

-- The value of a nemesis op: the fault and where, when the schedule put
-- it (at, seconds after the nemesis started) and for how long.
local function event_value(ev)
  return { fault = ev.fault, pod = ev.pod, proxy = ev.proxy, at = millis(ev.at),
           length = millis(ev.length), opts = ev.opts }
end

-- Record and run one step as process "nemesis"; true when it succeeded.
local function step(f, ev, call)
  local h = history.get()
  return history.as_process("nemesis", function()
    return (pcall(h._call, h, f, event_value(ev), ev.pod, call))
  end)
end

function Nemesis:_inject(ev)
  self.down[#self.down + 1] = ev                   -- maybe down even if the call fails midway
  ev.injected = step("nemesis." .. ev.fault, ev, inject_call(ev))
  if ev.fault == "restart" or not ev.injected then self:_forget(ev) end
end

function Nemesis:_forget(ev)
  for i, d in ipairs(self.down) do
    if d == ev then table.remove(self.down, i); return end
  end
end

function Nemesis:_heal(ev)
  local ok = step("nemesis.heal", ev, heal_call(ev))
  self:_forget(ev)
  if not ok then self.heal_failures[#self.heal_failures + 1] = describe_event(ev) end
  return ok
end

-- The next fault to inject: the schedule's events are drawn once, by
-- whoever asks first (the task, or nem:schedule()), and walked in order.
local function upcoming(nem)
  local gen = nem.schedule_gen
  return gen.events[nem.pos] or gen:next()
end

-- The next step in time order: a fault, or the heal of an earlier one
-- (a heal first when they are due at once).
local function due(nem)
  local heals = nem.pending_heals
  local next_heal = heals[1]
  local ev = upcoming(nem)
  if next_heal and (not ev or next_heal.heal_at <= ev.at) then
    table.remove(heals, 1)
    return "heal", next_heal, next_heal.heal_at
  end
  if ev then
    nem.pos = nem.pos + 1
    return "inject", ev, ev.at
  end
  return nil
end

local function add_heal(nem, ev)
  ev.heal_at = ev.at + ev.length
  local heals = nem.pending_heals
  local pos = #heals + 1
  for i, h in ipairs(heals) do
    if h.heal_at > ev.heal_at then pos = i; break end
  end
  table.insert(heals, pos, ev)
end

-- Sleep until `at` seconds after the start, or until close() wakes us;
-- false when stopping.
local function wait_until(nem, at)
  while not nem.stopping do
    local left = nem.started + at - sched.now()
    if left <= 0 then return true end
    nem.wake:wait(left)
  end
  return false
end

local function walk(nem)
  while not nem.stopping do
    local what, ev, at = due(nem)
    if not what then break end
    if not wait_until(nem, at) then
      if what == "heal" then table.insert(nem.pending_heals, 1, ev) end
      break
    end
    if what == "inject" then
      nem:_inject(ev)
      if ev.injected and ev.length then add_heal(nem, ev) end
    else
      nem:_heal(ev)
    end
  end
end

-- The task: walk the schedule; an error of its own (not a fault's, which
-- the history records) is kept for close() to raise.
local function run(nem)
  history.set_process("nemesis")
  local ok, err = pcall(walk, nem)
  if not ok then nem.error = err end
end

-- nem:schedule([count]) -> the faults of the schedule: all of them when it
-- has a duration or count, else the first `count` (default: those drawn
-- so far)
function Nemesis:schedule(count)
  local gen = self.schedule_gen
  if self.o.duration or self.o.count then return public_events(gen:all()) end
  while count and #gen.events < count and gen:next() do end
  local out = public_events(gen.events)
  if count then for i = #out, count + 1, -1 do out[i] = nil end end
  return out
end

-- nem:describe() -> the seed and the schedule, for a failure's diagnostics
function Nemesis:describe()
  local lines = { string.format("seed %d (%s)", self.seed, self.o.seed_from) }
  local shown = 0
  for _, ev in ipairs(self.schedule_gen.events) do
    if ev.injected == nil then
      lines[#lines + 1] = "next: " .. describe_event(ev)
      break
    end
    shown = shown + 1
    if shown > SHOWN_STEPS then
      lines[#lines + 1] = "..."
      break
    end
    lines[#lines + 1] = describe_event(ev) .. (ev.injected == false and " (failed)" or "")
  end
  if #self.heal_failures > 0 then
    lines[#lines + 1] = "heal failed: " .. table.concat(self.heal_failures, "; ")
  end
  return table.concat(lines, "\n")
end

-- nem:close(): stop after the step under way, heal what is still down;
-- raises when a heal failed (the runner heals after the file anyway)
function Nemesis:close()
  if self.closed then return end
  self.closed = true
  self.stopping = true
  self.wake:broadcast()
  if self.task then self.task:join(STOP_WAIT) end
  for i = #self.down, 1, -1 do self:_heal(self.down[i]) end
  if self.error then error(self.error, 0) end
  if #self.heal_failures > 0 then
    errors.raise("state", "mp.nemesis could not heal: " .. table.concat(self.heal_failures, "; "))
  end
end

Nemesis.__close = function(nem) nem:close() end

Nemesis.__tostring = function(nem)
  return string.format("nemesis (seed %d, %s)", nem.seed, nem.closed and "closed" or "running")
end

local made_in_test = 0
local last_test

-- mp.nemesis{faults=, targets=, interval=, length=, duration=, max_down=,
-- seed=, count=} -> a running nemesis
function M.new(opts)
  local h = history.get()
  if h.test ~= last_test then last_test, made_in_test = h.test, 0 end
  made_in_test = made_in_test + 1
  local o = options(opts, made_in_test)
  local nem = setmetatable({ o = o, seed = o.seed, down = {}, pending_heals = {},
                             heal_failures = {}, wake = sched.cond(), started = sched.now() }, Nemesis)
  nem.schedule_gen, nem.pos = new_schedule(o), 1
  runtime.on_failure(function(diag)
    diag.nemesis = diag.nemesis and (diag.nemesis .. "\n" .. nem:describe()) or nem:describe()
  end)
  require("mpod.scenario.dsl").at_test_end(function() nem:close() end)
  local t = sched.spawn(run, nem)
  t:name("nemesis")
  t:set_deadline()
  nem.task = t
  return nem
end

M.api = setmetatable({ plan = M.plan, derive = derive }, {
  __call = function(_, opts) return M.new(opts) end,
})

return M
