-- mpod/trace.lua: turning a raised value and its stack into the YAML
-- diagnostics of a failed test: message, at (the scenario's own line),
-- the error's own fields (got, expected, kind, pod, ...) and a stack of
-- the scenario's frames only.
--
-- Frames of the engine's bundled chunks (sources starting with "=") and of
-- C functions are left out: a scenario author wants the line they wrote.

local inspect = require "mpod.inspect"
local errors = require "mpod.error"
local sched_now = require("mpod.sched").now

local M = {}

-- user_stack(traceback) -> the traceback's lines from scenario files
function M.user_stack(traceback)
  if type(traceback) ~= "string" then return nil end
  local lines = {}
  for line in traceback:gmatch("[^\n]+") do
    local frame = line:match("^%s+(.+)$")
    if frame and not frame:match("^%[C%]") and not frame:match("^mpod/")
       and not frame:match("^%(%.%.%.tail calls%.%.%.%)") then
      lines[#lines + 1] = frame
    end
  end
  if #lines < 2 then return nil end   -- one frame says no more than `at`
  return table.concat(lines, "\n")
end

-- frame_location(traceback) -> "file:line" of the first scenario frame
function M.frame_location(traceback)
  if type(traceback) ~= "string" then return nil end
  for line in traceback:gmatch("[^\n]+") do
    local where = line:match("^%s+([^%[%s][^:]*:%d+):")
    if where and not where:match("^mpod/") then return where end
  end
end

-- Strip a leading "file:line: " that Lua's error() adds; returns the rest
-- and the location it named.
local function split_position(msg)
  local where, rest = msg:match("^([^\n:]+:%d+): (.*)$")
  if where and not where:match("^mpod/") then return rest, where end
  if where then return rest, nil end
  return msg, nil
end

-- What a diagnostics block shows of an error's fields: at most
-- MAX_FIELDS, the ones reports put first (kind, got, expected, diff)
-- before the rest in order of name.
local MAX_FIELDS = 100
local FIRST_FIELDS = { kind = 1, got = 2, expected = 3, diff = 4, at = 5 }

local function field_before(a, b)
  local ra, rb = FIRST_FIELDS[a] or 99, FIRST_FIELDS[b] or 99
  if ra ~= rb then return ra < rb end
  return a < b
end

-- A field's key as text: strings as they are, other keys as "[1]",
-- "[true]", "[2.5]" (JSON and YAML keys are text).
local function field_key(k)
  if type(k) == "string" then return k end
  return "[" .. inspect.inspect(k, 60) .. "]"
end

-- Copy an error table's fields into diag, as printable values. Raw: no
-- metamethod of the error runs (its __index, __pairs, ...).
local function copy_fields(diag, err)
  local fields = {}
  for k, v in next, err do
    local key = field_key(k)
    if key ~= "traceback" and key ~= "message" and fields[key] == nil then fields[key] = v end
  end
  local keys = {}
  for key in next, fields do keys[#keys + 1] = key end
  table.sort(keys, field_before)
  for i = 1, math.min(#keys, MAX_FIELDS) do
    local v = fields[keys[i]]
    local tv = type(v)
    if tv ~= "string" and tv ~= "number" and tv ~= "boolean" then v = inspect.inspect(v) end
    diag[keys[i]] = v
  end
  if #keys > MAX_FIELDS then diag["(more fields)"] = #keys - MAX_FIELDS end
end

local function text_of(v)
  if type(v) == "string" then return v end
  return inspect.inspect(v, 300)
end

-- describe(err) -> diag, the location named in a string error
local function describe(err)
  local diag = {}
  if errors.is(err) then
    copy_fields(diag, err)
    diag.message = text_of(rawget(err, "message") or rawget(err, "kind") or "error")
  elseif type(err) == "string" then
    local msg, where = split_position(err)
    diag.message = msg
    return diag, where
  elseif err == nil then
    diag.message = "error raised with a nil value"
  elseif type(err) == "table" and type(rawget(err, "message")) == "string"
         and not debug.getmetatable(err) then
    -- error { message = "...", code = 7 }: a plain table shaped like an error
    copy_fields(diag, err)
    diag.message = rawget(err, "message")
    diag.kind = diag.kind or "error"
  elseif type(err) == "table" then
    diag.message = "error raised with a table value: " .. inspect.inspect(err, 300)
    diag.kind = "error"
  else
    diag.message = string.format("error raised with a %s value: %s",
      type(err), inspect.inspect(err, 300))
  end
  return diag
end

-- diagnose(err [, traceback [, at]]) -> diag table {message=, at=, ...}.
-- Never raises: an error value that cannot be described (a __tostring
-- that loops into an error...) is reported by its type.
function M.diagnose(err, traceback, at)
  local ok, diag, where = pcall(describe, err)
  if not ok then
    diag, where = { kind = "error", message = string.format(
      "error raised with a %s value that cannot be described", type(err)) }, nil
  end
  diag.at = diag.at or at or where
  diag.stack = M.user_stack(traceback)
  return diag
end

-- A message handler for xpcall: returns {err=, traceback=, at=, time=}
-- (time: the sched.now() of the error, which the report marks).
function M.capture(err)
  return {
    err = err,
    traceback = debug.traceback(nil, 2),
    at = errors.location(2),
    time = sched_now(),
  }
end

return M
