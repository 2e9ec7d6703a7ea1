-- mpod/scenario/sync.lua: time and concurrency for scenarios: spawn, task:wait,
-- task:cancel, wait_all, poll_until / eventually, consistently, sleep, now.
--
-- Built on mpod.sched's tasks. Every attempt of poll_until and consistently
-- runs as its own task, so an attempt still in flight at the deadline is
-- cancelled (its HTTP transfer or query released) instead of overrunning.
-- A task whose waiter is cancelled cancels what it waits on, so nothing is
-- left running behind a cancelled test.

local errors = require "mpod.error"
local inspect = require "mpod.inspect"
local record = require "mpod.record"
local sched = require "mpod.sched"
local trace = require "mpod.trace"

local M = {}

local UNWIND_GRACE = 1

local Task = sched.Task
local observed = setmetatable({}, { __mode = "k" })
local failure_context = setmetatable({}, { __mode = "k" })

-- Called with every task mp.spawn creates (the DSL tracks them per test).
M.on_spawn = nil

M.now = sched.now
M.sleep = sched.sleep

-- elapsed(start) -> seconds since start (a sched.now() value), to the
-- millisecond: what reports show
function M.elapsed(start)
  return math.floor((sched.now() - start) * 1000 + 0.5) / 1000
end

-- Wait for t; if the waiting task is cancelled, cancel t too.
local function join_or_cancel(t, timeout)
  local result = table.pack(pcall(t.join, t, timeout))
  if not result[1] then
    if errors.is(result[2], "cancelled") then t:cancel("its waiter was cancelled") end
    error(result[2], 0)
  end
  return table.unpack(result, 2, result.n)
end
M.join_or_cancel = join_or_cancel

-- Run fn(...) in a task whose failure keeps the scenario line it came from.
local function guarded(fn, ...)
  local packed = table.pack(xpcall(fn, trace.capture, ...))
  if packed[1] then return table.unpack(packed, 2, packed.n) end
  local captured = packed[2]
  local err = captured.err
  if errors.is(err) and err.at == nil then err.at = captured.at end
  failure_context[sched.current()] = captured
  error(err, 0)
end

-- diagnose(task) -> the diag of a failed task, with the scenario line it
-- failed at when mp.spawn created it
function M.diagnose(t)
  local _, err, traceback = t:join()
  local captured = failure_context[t] or {}
  return trace.diagnose(err, captured.traceback or traceback, captured.at)
end

-- mp.spawn(fn, ...) -> task
function M.spawn(fn, ...)
  if type(fn) ~= "function" then
    errors.usage("mp.spawn expects a function, got " .. type(fn))
  end
  local t = sched.spawn(guarded, fn, ...)
  if M.on_spawn then M.on_spawn(t) end
  return t
end

-- task:wait([timeout]) -> the task's results; re-raises its error.
function Task:wait(timeout)
  local r = table.pack(join_or_cancel(self, timeout))
  observed[self] = true
  local status = r[1]
  if status == "done" then return table.unpack(r, 2, r.n) end
  if status == "timeout" then
    errors.raise("timeout", string.format("%s did not finish within %g s",
      self:name(), timeout), { task = self:name(), timeout = timeout })
  end
  if r[2] == nil then
    errors.raise("cancelled", self:name() .. " was cancelled")
  end
  error(r[2], 0)
end

-- task:observed() -> true once someone waited for the task's outcome
function Task:observed()
  return observed[self] == true
end

local function unfinished_names(tasks)
  local names = {}
  for _, t in ipairs(tasks) do
    local s = t:status()
    if s ~= "done" and s ~= "failed" and s ~= "cancelled" then
      names[#names + 1] = t:name()
    end
  end
  return table.concat(names, ", ")
end

-- mp.wait_all(tasks [, timeout]) -> list of each task's first result;
-- raises the first failure (in list order) once all have finished.
function M.wait_all(tasks, timeout)
  local deadline = timeout and sched.now() + timeout
  for _, t in ipairs(tasks) do
    local remaining = deadline and math.max(deadline - sched.now(), 0)
    if join_or_cancel(t, remaining) == "timeout" then
      errors.raise("timeout", string.format("wait_all timed out after %g s; still running: %s",
        timeout, unfinished_names(tasks)), { timeout = timeout })
    end
  end
  local results = {}
  for i, t in ipairs(tasks) do
    local r = table.pack(t:join())
    observed[t] = true
    if r[1] ~= "done" then
      local err = r[2]
      if errors.is(err) then err.task = err.task or t:name() end
      error(err or errors.new("cancelled", t:name() .. " was cancelled"), 0)
    end
    results[i] = r[2]
  end
  return results
end

-- Polling ------------------------------------------------------------------

local function label_of(fn, opts)
  if opts.label then return opts.label end
  local info = debug.getinfo(fn, "S")
  return string.format("function at %s:%d", info.short_src, info.linedefined)
end

local function describe_error(err)
  if errors.is(err) then
    -- a failed matcher's values say more than "expected values to be equal"
    if err.got == nil and err.expected == nil then return tostring(err.message) end
    return string.format("%s (got %s%s)", tostring(err.message), tostring(err.got),
      err.expected ~= nil and (", expected " .. tostring(err.expected)) or "")
  end
  if type(err) == "string" then return err end
  return inspect.inspect(err)
end

-- One attempt of fn with a deadline: "ok", values... | "error", err |
-- "overrun".
local function attempt(fn, deadline)
  local t = sched.spawn(fn)
  t:name("poll attempt")
  local r = table.pack(join_or_cancel(t, math.max(deadline - sched.now(), 0)))
  if r[1] == "timeout" then
    t:cancel("the deadline passed")
    t:join(UNWIND_GRACE)                  -- let it close what it holds
    return "overrun"
  end
  if r[1] == "done" then return "ok", table.unpack(r, 2, r.n) end
  return "error", r[2]
end

-- The history's ops of a poll (mpod.scenario.history): the invoke, with
-- the label as value; its completion ok or fail with attempts and the
-- poll's timeout (or duration).
local function record_start(what, fn, opts)
  local h = record.history
  return h and h:_engine_invoke(what, label_of(fn, opts))
end

local function record_end(op, kind, attempts, limit, err)
  if not op then return end
  record.history:_engine_complete(op, kind, { attempts = attempts,
    timeout = limit, error = err })
end

local function poll(what, fn, opts)
  opts = opts or {}
  local timeout = opts.timeout or 10
  local interval = opts.interval or 0.1
  local start = sched.now()
  local deadline = start + timeout
  local attempts, last, last_error = 0, nil, nil
  local op = record_start(what, fn, opts)
  repeat
    attempts = attempts + 1
    local r = table.pack(attempt(fn, deadline))
    if r[1] == "ok" and r[2] then
      record_end(op, "ok", attempts, timeout)
      return table.unpack(r, 2, r.n)
    end
    if r[1] == "ok" then last = r[2]
    elseif r[1] == "error" then last_error = describe_error(r[2])
    else last_error = "an attempt was still running at the deadline and was cancelled" end
    local pause = math.min(interval, deadline - sched.now())
    if pause > 0 then sched.sleep(pause) end
  until sched.now() >= deadline
  record_end(op, "fail", attempts, timeout, { kind = "timeout", message = string.format(
    "%s timed out after %g s (%d attempts)", what, timeout, attempts) })
  errors.raise("timeout", string.format("%s timed out: %s", what, label_of(fn, opts)), {
    label = opts.label,
    elapsed = M.elapsed(start),
    attempts = attempts,
    last = inspect.inspect(last, 300),
    last_error = last_error,
  })
end

-- mp.poll_until(fn, {timeout=, interval=, label=}) -> fn's first truthy
-- result (all its values)
function M.poll_until(fn, opts) return poll("poll_until", fn, opts) end
function M.eventually(fn, opts) return poll("eventually", fn, opts) end

-- mp.consistently(fn, {duration=, interval=, label=}) -> the last value;
-- fails as soon as fn returns a falsy value or raises within the window.
function M.consistently(fn, opts)
  opts = opts or {}
  local duration = opts.duration or 1
  local interval = opts.interval or 0.1
  local start = sched.now()
  local window_end = start + duration
  local attempts, last = 0, nil
  local op = record_start("consistently", fn, opts)
  repeat
    attempts = attempts + 1
    local r = table.pack(attempt(fn, math.max(window_end, sched.now()) + interval))
    local at = string.format("attempt %d, %.3f s into the window", attempts,
      sched.now() - start)
    if r[1] ~= "ok" or not r[2] then
      local why = r[1] == "error" and ("raised: " .. describe_error(r[2]))
        or r[1] == "overrun" and "did not finish in time"
        or ("returned " .. inspect.inspect(r[2], 300))
      record_end(op, "fail", attempts, duration, { kind = "consistently", message = why .. " (" .. at .. ")" })
      errors.raise("consistently", string.format("consistently failed: %s %s (%s)",
        label_of(fn, opts), why, at), {
          label = opts.label, attempts = attempts,
          elapsed = M.elapsed(start),
        })
    end
    last = r[2]
    local pause = math.min(interval, window_end - sched.now())
    if pause > 0 then sched.sleep(pause) end
  until sched.now() >= window_end
  record_end(op, "ok", attempts, duration)
  return last
end

return M
