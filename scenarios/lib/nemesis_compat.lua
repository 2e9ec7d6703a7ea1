-- nemesis_compat.lua: a stand-in for mp.nemesis (issue 16, docs/history.md
-- "The nemesis") for an engine that does not have it yet. install(mp)
-- sets mp.nemesis only when mp lacks it, so with the engine's own this file
-- does nothing and can go. It takes the same options (faults: "kill",
-- "pause", "stop", "isolate" or {"latency", proxy = name, ms = N}; targets, interval,
-- length, max_down, duration, seed), draws its schedule the same way (a
-- fault every interval seconds, skipped while max_down pods are down or
-- while its proxy already has one), records each fault and heal in
-- mp.history() as process "nemesis", and heals what it did when closed.
-- Its generator is not the engine's: a seed gives another schedule here.

local M = {}

local UNDO = { kill = "start", stop = "start", pause = "unpause", isolate = "rejoin" }

-- generator(seed) -> rand(): a float in [0, 1), from a 64-bit LCG
local function generator(seed)
  local state = seed & 0x7fffffffffffffff
  return function()
    state = (state * 6364136223846793005 + 1442695040888963407) & 0xffffffffffffffff
    return ((state >> 33) & 0x7fffffff) / 0x80000000
  end
end

local function uniform(rand, range) return range[1] + rand() * (range[2] - range[1]) end

local function spec_of(f)
  if type(f) == "string" then return { name = f } end
  local opts = {}
  for k, v in pairs(f) do if k ~= 1 and k ~= "proxy" then opts[k] = v end end
  return { name = f[1], proxy = f.proxy, opts = opts }
end

local function target_names(targets)
  local names = {}
  for i, t in ipairs(targets or {}) do names[i] = type(t) == "table" and t.name or t end
  return names
end

-- plan(opts) -> {seed=, events={{at=, fault=, pod=|proxy=, length=, opts=}, ...}}
local function plan(opts)
  local rand, t, events = generator(opts.seed or 1), 0, {}
  local down, proxies, targets = {}, {}, target_names(opts.targets)
  local length_range = opts.length or { 1, 3 }
  while true do
    t = t + uniform(rand, opts.interval or { 1, 3 })
    if t >= opts.duration then break end
    local ndown = 0
    for name, till in pairs(down) do
      if till <= t then down[name] = nil else ndown = ndown + 1 end
    end
    for name, till in pairs(proxies) do if till <= t then proxies[name] = nil end end
    local spec = spec_of(opts.faults[1 + math.floor(rand() * #opts.faults)])
    local length = uniform(rand, length_range)
    if spec.proxy then
      if not proxies[spec.proxy] then
        proxies[spec.proxy] = t + length
        events[#events + 1] = { at = t, fault = spec.name, proxy = spec.proxy, opts = spec.opts, length = length }
      end
    elseif ndown < (opts.max_down or 1) then
      local free = {}
      for _, name in ipairs(targets) do if not down[name] then free[#free + 1] = name end end
      if #free > 0 then
        local pod = free[1 + math.floor(rand() * #free)]
        down[pod] = t + length
        events[#events + 1] = { at = t, fault = spec.name, pod = pod, length = length }
      end
    end
  end
  return { seed = opts.seed, events = events }
end

local Nemesis = {}
Nemesis.__index = Nemesis

function Nemesis:schedule() return self.plan end

local function value_of(ev)
  return { fault = ev.fault, pod = ev.pod, proxy = ev.proxy, at = ev.at, length = ev.length }
end

local function call(c, ev, undo)
  if ev.proxy then
    local proxy = c:proxy(ev.proxy)
    if undo then return proxy:clear() end
    return proxy[ev.fault](proxy, ev.opts)
  end
  local pod = c:pod(ev.pod)
  if undo then return pod[UNDO[ev.fault]](pod) end
  if ev.fault == "kill" then return pod:kill("KILL") end
  return pod[ev.fault](pod)
end

function Nemesis:_heal(ev)
  if not self.active[ev] then return end
  self.active[ev] = nil
  local op = self.history:invoke("nemesis.heal", value_of(ev), { process = "nemesis", pod = ev.pod })
  local ok, err = pcall(call, self.cluster, ev, true)
  if ok then op:ok() else op:info(err) end
end

function Nemesis:_strike(ev)
  local op = self.history:invoke("nemesis." .. ev.fault, value_of(ev), { process = "nemesis", pod = ev.pod })
  local ok, err = pcall(call, self.cluster, ev, false)
  if not ok then op:fail(err); return end
  op:ok()
  self.active[ev] = true
  self.mp.sleep(ev.length)
  self:_heal(ev)
end

-- close(): stops the schedule and heals every fault still in place
function Nemesis:close()
  for _, t in ipairs(self.tasks) do
    local s = t:status()
    if s ~= "done" and s ~= "failed" and s ~= "cancelled" then t:cancel("nemesis closed") end
  end
  self.mp.sleep(0)
  for ev in pairs(self.active) do self:_heal(ev) end
end
Nemesis.__close = Nemesis.close

local function new(mp, opts)
  local self = setmetatable({ mp = mp, history = mp.history(), cluster = mp.cluster(),
                              plan = plan(opts), active = {}, tasks = {} }, Nemesis)
  local t0 = mp.now()
  self.tasks[1] = mp.spawn(function()
    for _, ev in ipairs(self.plan.events) do
      mp.sleep(math.max(0, t0 + ev.at - mp.now()))
      self.tasks[#self.tasks + 1] = mp.spawn(self._strike, self, ev)
    end
  end)
  return self
end

-- install(mp): mp.nemesis, unless the engine has its own
function M.install(mp)
  if not mp.nemesis then
    mp.nemesis = setmetatable({ plan = plan }, { __call = function(_, opts) return new(mp, opts) end })
  end
  return mp
end

return M
