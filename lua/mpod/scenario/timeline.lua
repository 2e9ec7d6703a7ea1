-- mpod/scenario/timeline.lua: the `timeline:` of a failed test's YAML, the
-- operations of the last seconds before the failure, one line each, so the
-- story can be read in the CI log itself (docs/report.md, "In the CI log").
--
--   timeline: |
--     -1.204 s  mesh-1  pod.kill                 ok
--     -0.310 s  mesh-2  http GET /v1/items       503
--     -0.002 s  mesh-2  http GET /v1/items       connect (fail)
--
-- A row is one operation (an invoke and its completion read together, or a
-- point operation), at the time it started relative to the failure. Rows
-- are the operations of the pods the test touched, the faults and the
-- nemesis's actions, and the test's own operations (h:invoke), started
-- at most WINDOW seconds before the failure: at most ROWS of them, the
-- last pod, fault and nemesis actions first (up to half), then the last
-- others; a first line counts those left out. Each row is cut to ROW_MAX
-- bytes; the runtime redacts the YAML as any event.

local runtime = require "mpod.scenario.runtime"

local M = {}

M.ROWS = 12
M.WINDOW = 5
M.ROW_MAX = 160
local NAME_WIDTH = 24

local function field(op, name)
  local v = op[name]
  if v == nil and type(op.value) == "table" then v = op.value[name] end
  return v
end

local function short(v, max)
  local s = type(v) == "string" and v or require("mpod.inspect").inspect(v, max)
  s = s:gsub("%s+", " ")
  if #s > max then s = s:sub(1, max - 3) .. "..." end
  return s
end

-- describe(op) -> what the operation was: "http GET /path", "pod.kill",
-- "sse.event 12 update", "write 3"
function M.describe(op)
  local f = tostring(op.f)
  if f == "http" or f == "sse.open" then
    return string.format("%s %s %s", f, tostring(field(op, "method") or "GET"),
      short(field(op, "path") or "", 60))
  elseif f == "sse.event" then
    return string.format("sse.event %s %s", tostring(field(op, "event_id") or ""),
      tostring(field(op, "event") or "")):gsub("%s+$", "")
  elseif f == "pg.query" then
    return "pg.query " .. short(op.value or "", 60)
  elseif f == "poll_until" or f == "consistently" or f == "test" then
    return f .. " " .. short(op.value or "", 60)
  elseif f:match("^pod%.") or f:match("^fault%.") or f:match("^nemesis%.") then
    return f
  elseif op.value ~= nil then
    return f .. " " .. short(op.value, 60)
  end
  return f
end

-- outcome(invoke, completion) -> "200", "ok", "ok 3" (a user op that
-- completed with another value than it was invoked with), "connect
-- (fail)", "pending", ...
function M.outcome(op, done)
  if op.point then return "seen" end
  if not done then return "pending" end
  local status = field(done, "status")
  if done.type == "ok" and status then return tostring(status) end
  if done.type == "ok" and not done.engine and done.value ~= nil
     and short(done.value, 40) ~= short(op.value, 40) then
    return "ok " .. short(done.value, 40)                   -- what a read returned
  end
  if done.type == "ok" then return "ok" end
  local err = done.error
  local kind = type(err) == "table" and (err.kind or err.message)
  if kind then return string.format("%s (%s)", short(kind, 40), done.type) end
  return done.type
end

-- pods(op) -> the set of pods an operation concerns (nil: none)
local function pods_of(op)
  local set
  local pod = op.pod or field(op, "pod")
  if type(pod) == "string" then set = { [pod] = true } end
  local list = field(op, "pods")
  if type(list) == "table" then
    set = set or {}
    for _, p in ipairs(list) do set[tostring(p)] = true end
  end
  return set
end

-- wanted(op, touched, test) -> true when the op belongs in the test's timeline
local function wanted(op, touched, test)
  local f = tostring(op.f)
  if f:match("^fault%.") or f:match("^nemesis%.") then return true end
  if not op.engine and op.test == test then return true end   -- the test's own ops
  local pods = pods_of(op)
  if pods then
    for p in pairs(pods) do
      if touched[p] then return true end
    end
    return false
  end
  return op.test == test and f ~= "test"
end

-- A pod action, a fault or a nemesis action: the story's turning points,
-- kept even when many requests came after them.
local function is_action(op)
  local f = tostring(op.f)
  return f:match("^pod%.") or f:match("^fault%.") or f:match("^nemesis%.")
end

-- pick(ops, from, to, touched, test) -> the invokes and points wanted in
-- [from, to], newest first; the completions seen, by invoke index
local function pick(ops, n, from, to, touched, test)
  local done, picked = {}, {}
  for i = n, 1, -1 do
    local op = ops[i]
    if op.type ~= "invoke" and op.invoke ~= nil and not op.point then
      done[op.invoke] = op
    elseif (op.type == "invoke" or op.point) and op.time <= to then
      if op.time < from then break end
      if wanted(op, touched, test) then picked[#picked + 1] = op end
    end
  end
  return picked, done
end

-- rows(ops, failed_at, touched, test [, n]) -> the timeline's lines
-- (strings), oldest first. ops: the history's operations in index order
-- (times in the same clock as failed_at), the first n of them (default
-- all). At most ROWS rows: the last actions (at
-- most half of them), and the last other operations in the rest; a first
-- line says how many more the window held.
function M.rows(ops, failed_at, touched, test, n)
  local candidates, done = pick(ops, n or #ops, failed_at - M.WINDOW, failed_at, touched, test)
  local actions, keep = 0, {}
  for _, op in ipairs(candidates) do
    if is_action(op) and actions < M.ROWS // 2 then actions, keep[op] = actions + 1, true end
  end
  local others = 0
  for _, op in ipairs(candidates) do
    if not keep[op] and others < M.ROWS - actions then others, keep[op] = others + 1, true end
  end
  local picked = {}
  for _, op in ipairs(candidates) do
    if keep[op] then picked[#picked + 1] = op end
  end
  local rows, pod_width = {}, 1
  for i = #picked, 1, -1 do
    local op = picked[i]
    local c = done[op.index]
    if c and c.time > failed_at then c = nil end
    local pods = {}
    for p in pairs(pods_of(op) or {}) do pods[#pods + 1] = p end
    table.sort(pods)
    local pod = #pods > 0 and table.concat(pods, ",") or "-"
    pod_width = math.max(pod_width, #pod)
    rows[#rows + 1] = { op.time - failed_at, pod, M.describe(op), M.outcome(op, c) }
  end
  local lines = {}
  if #candidates > #picked then
    lines[1] = string.format("(%d more operations in the %g s before, left out)", #candidates - #picked, M.WINDOW)
  end
  local format = "%+.3f s  %-" .. math.min(pod_width, 20) .. "s  %-" .. NAME_WIDTH .. "s  %s"
  for i, r in ipairs(rows) do
    local line = string.format(format, r[1], r[2], r[3], r[4])
    if #line > M.ROW_MAX then line = line:sub(1, M.ROW_MAX - 3) .. "..." end
    lines[#lines + 1] = line
  end
  return lines
end

-- raw_ops(h [, from]) -> the history's ops in memory as it holds them
-- (tables with private fields, not to be changed), in index order: its
-- list, and its HTTP requests (h.requests, a ring of rows) as op tables;
-- with `from`, only what was recorded from that time on (and the
-- completions of requests invoked then). nil when the history does not
-- hold them that way: then h:ops() serves.
local function raw_ops(h, from)
  if type(h.list) ~= "table" or type(h.n) ~= "number" then return nil end
  local out = {}
  for i = h.n, 1, -1 do
    local op = h.list[i]
    if from and op.time < from then break end
    out[#out + 1] = op
  end
  local ring = h.requests
  local readable = ring ~= nil and pcall(function() return ring.op and ring.index_of end)
  if readable and ring.op and ring.index_of then
    local first, next_seq
    if ring.range then first, next_seq = ring:range() else first, next_seq = ring.first, ring.next end
    local names = type(h.names) == "table" and h.names or {}
    local function request_op(seq, half)   -- pod and test by name, not number
      local op = ring:op(seq, half)
      if op and op._pod then op.pod = names[op._pod] end
      if op and op._test then op.test = names[op._test] end
      return op
    end
    for seq = next_seq - 1, first, -1 do
      local inv = request_op(seq, 1)
      if not inv or (from and inv.time < from) then break end
      out[#out + 1] = inv
      if ring:index_of(seq, 2) then out[#out + 1] = request_op(seq, 2) end
    end
  elseif ring ~= nil then
    return nil
  end
  table.sort(out, function(x, y) return x.index < y.index end)
  return out
end

-- The file's history, when there is one.
local function history()
  local ok, mod = pcall(require, "mpod.scenario.history")
  if ok and type(mod) == "table" and mod.current then return mod.current() end
end

-- add(diag, failed_at, test): diag.timeline, when the history holds
-- operations of the seconds before the failure (failed_at: sched.now()).
-- The history's ops of the window are read as it holds them
-- (raw_ops; its time 0 is h.t0) rather than copied whole by
-- h:ops(), which would redact every op of the file for a dozen rows; the
-- YAML is redacted on its way out like every diagnostic.
function M.add(diag, failed_at, test)
  local ok, err = pcall(function()
    local h = history()
    if not h then return end
    local origin = type(h.t0) == "number" and h.t0 or require("mpod.scenario.report_data").origin()
    local at = failed_at - origin
    local ops = raw_ops(h, at - M.WINDOW) or h:ops()
    local lines = M.rows(ops, at, runtime.touched, test)
    if #lines > 0 then diag.timeline = table.concat(lines, "\n") .. "\n" end
  end)
  if not ok then diag.timeline = "(cannot be shown: " .. tostring(err) .. ")\n" end
end

return M
