-- spec16.lua: a stand-in for mp.history, mp.nemesis and the mp.check
-- checkers the chaos scenario uses, following the contract of issue 16
-- (their names, arguments and op format), for as long as the engine does
-- not have them yet. install(mp) adds only what mp lacks, so once the
-- engine's own land this file does nothing and can go. It is small on
-- purpose: ops in memory only, a nemesis of kill/pause/slow_postgres on
-- the process and compose backends, and the four checkers the scenario
-- calls, each raising an error of kind "check" naming its checker and the
-- ops that prove the anomaly.

local M = {}

-- History ------------------------------------------------------------------

local History = {}
History.__index = History

local function new_history(mp)
  return setmetatable({ mp = mp, list = {}, t0 = mp.now() }, History)
end

function History:_add(op)
  op.index = #self.list
  op.time = self.mp.now() - self.t0
  self.list[#self.list + 1] = op
  return op
end

local Op = {}
Op.__index = Op

local function complete(handle, outcome, value, err)
  if handle.done then
    error({ kind = "usage", message = "op " .. handle.op.index .. " (" .. handle.op.f ..
      ") completed twice" }, 3)
  end
  handle.done = true
  local inv = handle.op
  local op = { type = outcome, f = inv.f, process = inv.process, pod = inv.pod, key = inv.key,
               invoke = inv.index, value = value }
  if value == nil then op.value = inv.value end
  if err ~= nil then
    op.error = type(err) == "table" and { kind = err.kind, message = tostring(err.message) }
      or { kind = "error", message = tostring(err) }
  end
  return handle.history:_add(op)
end

function Op:ok(value) return complete(self, "ok", value) end
function Op:fail(err) return complete(self, "fail", nil, err) end
function Op:info(err) return complete(self, "info", nil, err) end

function History:invoke(f, value, opts)
  opts = opts or {}
  local op = self:_add({ type = "invoke", f = f, value = value, process = opts.process or 0,
                         pod = opts.pod, key = opts.key })
  return setmetatable({ history = self, op = op }, Op)
end

function History:observe(f, value, opts)
  opts = opts or {}
  return self:_add({ type = "ok", point = true, f = f, value = value,
                     process = opts.process or 0, pod = opts.pod, key = opts.key })
end

function History:ops(filter)
  filter = filter or {}
  local out = {}
  for _, op in ipairs(self.list) do
    local keep = true
    for k, v in pairs(filter) do
      if op[k] ~= v then keep = false end
    end
    if keep then out[#out + 1] = op end
  end
  return out
end

-- Nemesis --------------------------------------------------------------------

-- a small seeded generator (splitmix-like on 32-bit halves is not needed:
-- Lua's integers are 64-bit), so a schedule never depends on math.random
local function generator(seed)
  local state = seed & 0x7fffffffffffffff
  return function(lo, hi)
    state = (state * 6364136223846793005 + 1442695040888963407) & 0xffffffffffffffff
    local x = ((state >> 33) & 0x7fffffff) / 0x80000000
    if lo == nil then return x end
    return lo + x * (hi - lo)
  end
end
M.generator = generator

-- plan(opts) -> the schedule: { {at=, fault=, pod=, length=, ms=}, ... }
-- sorted by `at`: a fault every interval seconds; when max_down pods are
-- down (killed, paused) the next pod fault waits for one to come back; a
-- killed pod counts as down for 2 s more, while it starts again
local function plan(opts)
  local rand = generator(opts.seed or 1)
  local lengths = opts.lengths or {}
  local events, t = {}, rand(opts.interval[1], opts.interval[2])
  local busy = {}                      -- pod or "postgres" -> free again at
  while t < opts.duration do
    local fault = opts.faults[1 + math.floor(rand() * #opts.faults)]
    local span = lengths[fault] or { 1, 3 }
    local length = math.min(rand(span[1], span[2]), opts.duration - t)
    local free, down, back = {}, 0, math.huge
    local targets = fault == "slow_postgres" and { "postgres" } or opts.targets
    for _, name in ipairs(targets) do
      if (busy[name] or 0) > t then
        down, back = down + 1, math.min(back, busy[name])
      else
        free[#free + 1] = name
      end
    end
    if #free == 0 or (fault ~= "slow_postgres" and down >= (opts.max_down or 1)) then
      t = back + rand(opts.interval[1], opts.interval[2])   -- wait for one to come back
    else
      local pod = free[1 + math.floor(rand() * #free)]
      busy[pod] = t + length + (fault == "kill" and 2 or 0)
      local e = { at = t, fault = fault, pod = pod ~= "postgres" and pod or nil, length = length }
      if fault == "slow_postgres" then
        e.ms = math.floor(rand(opts.latency_ms[1], opts.latency_ms[2]))
      end
      events[#events + 1] = e
      t = t + rand(opts.interval[1], opts.interval[2])
    end
  end
  return events
end

local Nemesis = {}
Nemesis.__index = Nemesis

function Nemesis:schedule() return self.events end

-- describe(events) -> the schedule as lines, for failure messages
function M.describe(events)
  local lines = {}
  for _, e in ipairs(events) do
    lines[#lines + 1] = string.format("%6.2f s %-13s %-7s for %.2f s%s", e.at, e.fault,
      e.pod or "", e.length, e.ms and (" (" .. e.ms .. " ms)") or "")
  end
  return table.concat(lines, "\n")
end

local function apply(self, e)
  local mp, h, c = self.mp, self.history, self.cluster
  local f = "nemesis." .. e.fault
  local op = h:invoke(f, { pod = e.pod, length = e.length, ms = e.ms }, { process = "nemesis", pod = e.pod })
  local ok, err = pcall(function()
    if e.fault == "kill" then c:pod(e.pod):kill()
    elseif e.fault == "pause" then c:pod(e.pod):pause()
    elseif e.fault == "slow_postgres" then c:proxy("postgres"):latency { ms = e.ms }
    else error("unknown fault " .. e.fault) end
  end)
  if not ok then op:fail(err); return end
  op:ok()
  self.active[e] = true
  mp.sleep(e.length)
  self:heal_one(e)
end

function Nemesis:heal_one(e)
  if not self.active[e] then return end
  self.active[e] = nil
  local c = self.cluster
  local op = self.history:invoke("nemesis.heal", { fault = e.fault, pod = e.pod },
    { process = "nemesis", pod = e.pod })
  local ok, err = pcall(function()
    if e.fault == "kill" then c:pod(e.pod):start()
    elseif e.fault == "pause" then c:pod(e.pod):unpause()
    else c:proxy("postgres"):clear() end
  end)
  if ok then op:ok() else op:info(err) end
end

function Nemesis:heal()
  for _, t in ipairs(self.tasks) do
    if t:status() ~= "done" and t:status() ~= "failed" then t:cancel("nemesis closed") end
  end
  self.mp.sleep(0)
  for e in pairs(self.active) do self:heal_one(e) end
end

Nemesis.__close = Nemesis.heal

local function new_nemesis(mp, opts)
  local self = setmetatable({ mp = mp, history = mp.history(), cluster = opts.cluster or mp.cluster(),
    events = plan(opts), active = {}, tasks = {} }, Nemesis)
  local t0 = mp.now()
  self.tasks[1] = mp.spawn(function()
    for _, e in ipairs(self.events) do
      mp.sleep(math.max(0, t0 + e.at - mp.now()))
      self.tasks[#self.tasks + 1] = mp.spawn(apply, self, e)
    end
  end)
  return self
end

-- Checkers ----------------------------------------------------------------------

local function show(op)
  return string.format("%d %.3f %s %s %s %s", op.index or -1, op.time or 0, tostring(op.process),
    op.type, op.f, type(op.value) == "table" and "{...}" or tostring(op.value))
end

local function invalid(checker, message, ops, fields)
  local shown = {}
  for i, op in ipairs(ops or {}) do
    if i > 10 then break end
    shown[#shown + 1] = show(op)
  end
  local err = { kind = "check", checker = checker, ops = shown,
                message = checker .. ": " .. message }
  for k, v in pairs(fields or {}) do err[k] = v end
  error(err, 0)
end

local function list(h)
  return h.list or h
end

-- set(h, {add=, read=}): every add acknowledged (ok) is in the last read
local function check_set(h, opts)
  opts = opts or {}
  local add, read = opts.add or "add", opts.read or "read"
  local ops, invokes, final = list(h), {}, nil
  for _, op in ipairs(ops) do
    if op.f == read and op.type == "ok" then final = op end
  end
  if not final then return { valid = "unknown", why = "no read" } end
  local present = {}
  for _, v in ipairs(final.value) do present[v] = true end
  local lost, acked = {}, 0
  for _, op in ipairs(ops) do
    if op.f == add and op.type == "invoke" then invokes[op.index] = op end
    if op.f == add and op.type == "ok" then
      acked = acked + 1
      if not present[invokes[op.invoke].value] then lost[#lost + 1] = op end
    end
  end
  if #lost > 0 then
    local proof = {}
    for _, op in ipairs(lost) do proof[#proof + 1] = invokes[op.invoke]; proof[#proof + 1] = op end
    proof[#proof + 1] = final
    invalid("set", string.format("%d of %d acknowledged adds lost (acknowledged but not in the final read)",
      #lost, acked), proof, { lost = #lost })
  end
  return { valid = true, acknowledged = acked }
end

-- exactly_once(seq, n): seq is 1..n, each once, in order
local function check_exactly_once(seq, n)
  for i = 1, math.max(#seq, n) do
    if seq[i] ~= i then
      invalid("exactly_once", string.format("position %d: got %s, expected %s (seen %s)", i,
        tostring(seq[i]), i <= n and tostring(i) or "nothing more", table.concat(seq, ",")))
    end
  end
  return { valid = true }
end

-- fencing(log): log rows {owner=, epoch=} (a new owner took over) or
-- {owner=, write=} (a write); after a takeover only its owner writes
local function check_fencing(log)
  local owner, since
  for _, row in ipairs(log) do
    if row.epoch ~= nil then
      owner, since = row.owner, row
    elseif row.owner ~= owner then
      invalid("fencing", string.format("write %s by %s after %s took over", tostring(row.write),
        row.owner, tostring(owner)), {}, { takeover = since, write = row })
    end
  end
  return { valid = true }
end

-- read_your_writes(h, {write=, read=, window=}): after a write's ok, every
-- read of the same key invoked later than window seconds after it reads it
-- (here: a read "session" of a signed-out session must answer 401)
local function check_ryw(h, opts)
  local ops, written, invokes = list(h), {}, {}
  for _, op in ipairs(ops) do
    if op.type == "invoke" then invokes[op.index] = op end
    if op.f == opts.write and op.type == "ok" then written[op.key] = op end
  end
  local window = opts.window or 0
  for _, op in ipairs(ops) do
    if op.f == opts.read and op.type == "ok" then
      local w, inv = written[op.key], invokes[op.invoke]
      if w and inv.time > w.time + window and not opts.holds(op.value) then
        invalid("read_your_writes", string.format("read of %s on %s at %.3f s, after the write at %.3f s, got %s",
          tostring(op.key), tostring(op.pod), inv.time, w.time, tostring(op.value)), { w, inv, op })
      end
    end
  end
  return { valid = true }
end

-- install(mp): adds what mp lacks of the issue-16 API
function M.install(mp)
  if not mp.history then
    local the
    mp.history = function()
      the = the or new_history(mp)
      return the
    end
  end
  if not mp.nemesis then
    mp.nemesis = setmetatable({ plan = plan }, { __call = function(_, opts) return new_nemesis(mp, opts) end })
  end
  mp.check = mp.check or {}
  mp.check.set = mp.check.set or check_set
  mp.check.exactly_once = mp.check.exactly_once or check_exactly_once
  mp.check.fencing = mp.check.fencing or check_fencing
  mp.check.read_your_writes = mp.check.read_your_writes or check_ryw
  return mp
end

return M
