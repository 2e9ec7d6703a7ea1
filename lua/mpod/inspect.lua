-- mpod/inspect.lua: one-line, bounded descriptions of Lua values for
-- diagnostics ("got", "expected", "last"), and the deep equality with a
-- readable list of differences that expect:eq reports.
--
-- Strings are quoted JSON-style, tables print with sorted keys, sequences
-- as lists, values with __tostring (responses, errors, mp.null) as that.
-- Output never exceeds `limit` characters and never recurses forever.
--
-- Describing is raw: keys, lengths and values are read with next, rawlen
-- and rawget, and metatables with debug.getmetatable, so a value whose
-- __index, __pairs or __len raises, or whose metatable is protected, is
-- described like any other. The one metamethod called is __tostring, under
-- pcall. The deep equality (diff) keeps Lua's own access, as `==` does.

local M = {}

local DEFAULT_LIMIT = 400
local MAX_DEPTH = 4

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n',
                    ['\r'] = '\\r', ['\t'] = '\\t' }
    return named[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end
M.quote = quote

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

-- The order of keys: by type, then numbers and strings by value, other
-- values by address (no metamethod runs: not __lt, not __tostring).
local function key_before(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "number" or ta == "string" then return a < b end
  if ta == "boolean" then return not a and b end
  return string.format("%p", a) < string.format("%p", b)
end

-- sorted_keys(t [, raw]) -> t's keys in a stable order; raw: read them
-- with next rather than pairs (no __pairs)
local function sorted_keys(t, raw)
  local keys = {}
  if raw then
    for k in next, t do keys[#keys + 1] = k end
  else
    for k in pairs(t) do keys[#keys + 1] = k end
  end
  table.sort(keys, key_before)
  return keys
end
M.sorted_keys = sorted_keys

-- A table's __tostring, read past a protected metatable, or nil.
local function tostring_method(v)
  local mt = debug.getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") or nil
end

-- is_sequence(t) -> true when t's keys are exactly 1..#t, read raw
local function is_sequence(t)
  local n = rawlen(t)
  if n == 0 then return false end
  local count = 0
  for _ in next, t do count = count + 1 end
  return count == n
end
M.is_sequence = is_sequence

local describe

local function describe_table(t, depth, seen)
  if seen[t] then return "<cycle>" end
  if depth >= MAX_DEPTH then return "{...}" end
  seen[t] = true
  local parts = {}
  if is_sequence(t) then
    for i = 1, rawlen(t) do parts[i] = describe(rawget(t, i), depth + 1, seen) end
  else
    for _, k in ipairs(sorted_keys(t, true)) do
      local key = is_identifier(k) and k or ("[" .. describe(k, depth + 1, seen) .. "]")
      parts[#parts + 1] = key .. " = " .. describe(rawget(t, k), depth + 1, seen)
    end
  end
  seen[t] = nil
  return "{" .. table.concat(parts, ", ") .. "}"
end

function describe(v, depth, seen)
  if tostring_method(v) then
    local ok, s = pcall(tostring, v)
    return ok and s or "<unprintable>"
  end
  local t = type(v)
  if t == "string" then return quote(v) end
  if t == "table" then return describe_table(v, depth, seen) end
  if t == "number" and math.type(v) == "float" and v == math.floor(v)
     and v > -1e15 and v < 1e15 then
    return string.format("%.1f", v)
  end
  return tostring(v)     -- no __tostring: uses __name only when a string
end

-- inspect(v [, limit]) -> string of at most limit characters
function M.inspect(v, limit)
  limit = limit or DEFAULT_LIMIT
  local s = describe(v, 0, {})
  if #s > limit then
    s = s:sub(1, limit - 3) .. "..."
  end
  return s
end

-- Deep equality ------------------------------------------------------------

local function path_join(path, k)
  if is_identifier(k) then return path .. "." .. k end
  return path .. "[" .. describe(k, MAX_DEPTH, {}) .. "]"
end

-- Values that print themselves (responses, errors, mp.null) compare with ==.
local function prints_itself(v)
  return tostring_method(v) ~= nil
end

local function compare(a, b, path, diffs, limit, seen)
  if #diffs >= limit then return end
  if rawequal(a, b) then return end
  if type(a) ~= "table" or type(b) ~= "table" or prints_itself(a)
     or prints_itself(b) then
    if a ~= b then
      diffs[#diffs + 1] = string.format("%s: got %s, expected %s", path,
        M.inspect(a, 120), M.inspect(b, 120))
    end
    return
  end
  seen[a] = seen[a] or {}
  if seen[a][b] then return end
  seen[a][b] = true
  for _, k in ipairs(sorted_keys(b)) do
    if a[k] == nil then
      diffs[#diffs + 1] = string.format("%s: missing, expected %s",
        path_join(path, k), M.inspect(b[k], 120))
    else
      compare(a[k], b[k], path_join(path, k), diffs, limit, seen)
    end
    if #diffs >= limit then return end
  end
  for _, k in ipairs(sorted_keys(a)) do
    if b[k] == nil then
      diffs[#diffs + 1] = string.format("%s: unexpected %s",
        path_join(path, k), M.inspect(a[k], 120))
      if #diffs >= limit then return end
    end
  end
end

-- diff(got, expected [, limit]) -> list of difference lines (empty: equal)
function M.diff(got, expected, limit)
  local diffs = {}
  compare(got, expected, "$", diffs, limit or 10, {})
  return diffs
end

function M.deep_equal(a, b)
  return #M.diff(a, b, 1) == 0
end

return M
