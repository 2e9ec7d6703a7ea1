-- mpod/scenario/expect.lua: mp.expect(value) and its matchers.
--
-- A failed matcher raises an mpod error of kind "expect" carrying got,
-- expected (both printable), the scenario line (at) and, for :eq on
-- tables and :matches given a table, a diff listing each differing path.
-- Matchers return the expectation, so they chain:
-- mp.expect(res):status(200):has("json").
--
-- Partial matching (:matches{...}, :raises{...}) walks the expected
-- table only: every key it gives must match the value's, recursively;
-- other keys of the value are not looked at. A leaf matches by equality,
-- an mp.pattern(p) value by string.find, a function by returning truthy.

local errors = require "mpod.error"
local inspect = require "mpod.inspect"

local M = {}

local Expectation = {}
Expectation.__index = Expectation

local function show(v)
  return inspect.inspect(v, 300)
end

local function check(self, cond, message, fields)
  if not cond then errors.raise("expect", message, fields) end
  return self
end

function Expectation:eq(expected)
  local diffs = inspect.diff(self.value, expected, 10)
  if #diffs == 0 then return self end
  local fields = { got = show(self.value), expected = show(expected) }
  if type(self.value) == "table" and type(expected) == "table" then
    fields.diff = table.concat(diffs, "\n")
  end
  errors.raise("expect", "expected values to be equal", fields)
end

function Expectation:ne(other)
  return check(self, not inspect.deep_equal(self.value, other),
    "expected a value different from " .. show(other), { got = show(self.value) })
end

function Expectation:truthy()
  return check(self, self.value, "expected a truthy value", { got = show(self.value) })
end

function Expectation:falsy()
  return check(self, not self.value, "expected a falsy value (nil or false)",
    { got = show(self.value) })
end

function Expectation:is_nil()
  return check(self, self.value == nil, "expected nil", { got = show(self.value) })
end

local function comparable(self, other, op)
  local a, b = self.value, other
  local same = type(a) == type(b) and (type(a) == "number" or type(a) == "string")
  if not same then
    errors.raise("expect", string.format("cannot compare %s %s %s", type(a), op, type(b)),
      { got = show(a), expected = op .. " " .. show(b) })
  end
end

local comparisons = {
  gt = { ">", function(a, b) return a > b end },
  ge = { ">=", function(a, b) return a >= b end },
  lt = { "<", function(a, b) return a < b end },
  le = { "<=", function(a, b) return a <= b end },
}

for name, spec in pairs(comparisons) do
  local op, test = spec[1], spec[2]
  Expectation[name] = function(self, other)
    comparable(self, other, op)
    return check(self, test(self.value, other),
      string.format("expected %s %s %s", show(self.value), op, show(other)),
      { got = show(self.value), expected = op .. " " .. show(other) })
  end
end

function Expectation:near(target, epsilon)
  epsilon = epsilon or 1e-9
  local v = self.value
  if type(v) ~= "number" then
    errors.raise("expect", "expected a number near " .. show(target), { got = show(v) })
  end
  return check(self, math.abs(v - target) <= epsilon,
    string.format("expected %s to be within %s of %s", show(v), show(epsilon), show(target)),
    { got = show(v), expected = string.format("%s +/- %s", show(target), show(epsilon)) })
end

-- Partial matching ---------------------------------------------------------

local Pattern = {}
Pattern.__index = Pattern
Pattern.__name = "mpod.Pattern"
Pattern.__tostring = function(p) return string.format("mp.pattern(%s)", inspect.quote(p.pattern)) end

-- mp.pattern(p) -> a value that, in :matches{...} and :raises{...},
-- matches a string in which the Lua pattern p is found
function M.pattern(p)
  if type(p) ~= "string" then
    errors.usage("mp.pattern expects a Lua pattern (a string), got " .. type(p))
  end
  return setmetatable({ pattern = p }, Pattern)
end

local MAX_MISMATCHES = 10

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

-- "user.email", "items[2].id", "[\"a b\"]"; "" is the value itself
local function join(path, key)
  if is_identifier(key) then return path == "" and key or (path .. "." .. key) end
  return path .. "[" .. inspect.inspect(key, 60) .. "]"
end

local function where(fn)
  local info = debug.getinfo(fn, "S")
  return info.short_src .. ":" .. info.linedefined
end

-- leaf_mismatch(got, want) -> nil when got matches want (a leaf: not a
-- table walked key by key), else why not, one line without the path
local function leaf_mismatch(got, want)
  if getmetatable(want) == Pattern then
    if type(got) == "string" and got:find(want.pattern) then return nil end
    return string.format("%s, expected a string matching %s",
      got == nil and "missing" or ("got " .. show(got)), inspect.quote(want.pattern))
  end
  if type(want) == "function" then
    local ok, result = pcall(want, got)
    if not ok and errors.is(result, "cancelled") then error(result, 0) end
    if ok and result then return nil end
    if ok then
      return string.format("got %s, which the function at %s rejected", show(got), where(want))
    end
    local text = errors.is(result) and tostring(result.message) or tostring(result)
    return string.format("got %s, and the function at %s raised: %s", show(got), where(want), text)
  end
  if got == want then return nil end
  if got == nil then return "missing, expected " .. show(want) end
  return string.format("got %s, expected %s", show(got), show(want))
end

-- A table `want` that is matched key by key (not mp.null, a pattern, or a
-- response: values that print themselves compare with ==).
local function walks(want)
  if type(want) ~= "table" then return false end
  local mt = getmetatable(want)
  return mt == nil or (type(mt) == "table" and rawget(mt, "__tostring") == nil)
end

-- partial(got, want, path, out, seen): append "path: why" to out for
-- every key of want (recursively) that got does not match
local function partial(got, want, path, out, seen)
  if #out >= MAX_MISMATCHES then return end
  if not walks(want) then
    local why = leaf_mismatch(got, want)
    if why then out[#out + 1] = { path = path, why = why } end
    return
  end
  if type(got) ~= "table" then
    local why = got == nil and "missing" or ("got " .. show(got))
    out[#out + 1] = { path = path, why = why .. ", expected a table matching " .. show(want) }
    return
  end
  if seen[want] then return end
  seen[want] = true
  for _, k in ipairs(inspect.sorted_keys(want)) do
    partial(got[k], want[k], join(path, k), out, seen)
  end
  seen[want] = nil
end

-- The mismatches of got against want, as diff lines and as a list of paths.
local function mismatches(got, want)
  local out = {}
  partial(got, want, "", out, {})
  local lines, paths = {}, {}
  for i, m in ipairs(out) do
    local path = m.path == "" and "(the value)" or m.path
    lines[i] = path .. ": " .. m.why
    paths[i] = path
  end
  if #out >= MAX_MISMATCHES then lines[#lines + 1] = "(stopped at " .. MAX_MISMATCHES .. ")" end
  return lines, paths
end

-- :matches(pattern | table | mp.pattern(p) | function): a string is a Lua
-- pattern the value (a string) must contain; anything else matches
-- partially (above)
function Expectation:matches(want)
  local v = self.value
  if type(want) == "string" then
    return check(self, type(v) == "string" and v:find(want) ~= nil,
      "expected a string matching the pattern " .. show(want),
      { got = show(v), expected = "pattern " .. show(want) })
  end
  if want == nil then errors.usage(":matches expects a pattern, a table or a function, got nil") end
  local lines, paths = mismatches(v, want)
  if #lines == 0 then return self end
  errors.raise("expect", string.format("expected the value to match; %d mismatch%s: %s",
    #paths, #paths == 1 and "" or "es", table.concat(paths, ", ")),
    { got = show(v), expected = show(want), diff = table.concat(lines, "\n") })
end

local function contains(haystack, needle)
  if type(haystack) == "string" then
    return type(needle) == "string" and haystack:find(needle, 1, true) ~= nil
  end
  if type(haystack) ~= "table" then return false end
  for _, item in pairs(haystack) do
    if inspect.deep_equal(item, needle) then return true end
  end
  return false
end

function Expectation:contains(needle)
  return check(self, contains(self.value, needle),
    "expected the value to contain " .. show(needle),
    { got = show(self.value), expected = "containing " .. show(needle) })
end

function Expectation:has(key)
  local v = self.value
  local ok = type(v) == "table" and v[key] ~= nil
  return check(self, ok, "expected a table with the key " .. show(key),
    { got = show(v) })
end

function Expectation:len(n)
  local v = self.value
  local ok, len = pcall(function() return #v end)
  if not ok then
    errors.raise("expect", "expected something with a length, got a " .. type(v), { got = show(v) })
  end
  return check(self, len == n,
    string.format("expected length %d, got %d", n, len),
    { got = show(v), expected = "length " .. n })
end

function Expectation:type(t)
  local actual = type(self.value)
  return check(self, actual == t,
    string.format("expected a %s, got a %s", t, actual), { got = show(self.value) })
end

-- :status(code) for responses: the body excerpt says why it differed.
function Expectation:status(code)
  local res = self.value
  if type(res) ~= "table" or res.status == nil then
    errors.raise("expect", "expected a response with a status", { got = show(res) })
  end
  if res.status == code then return self end
  local body = type(res.body) == "string" and res.body:sub(1, 300) or nil
  errors.raise("expect", string.format("expected status %d, got %d", code, res.status),
    { got = res.status, expected = code, body = body })
end

-- The kind and message of any error value (a string error has no kind).
local function error_parts(err)
  if errors.is(err) then return err.kind, tostring(err.message) end
  return nil, tostring(err)
end

-- raises("text"): an mpod error passes when its kind is text or its
-- message holds it; any other error when its text holds it
local function raised_text(err, want)
  local kind, text = error_parts(err)
  if kind == want or text:find(want, 1, true) then return end
  if kind == nil then
    errors.raise("expect", "the error did not contain " .. show(want), { got = show(text) })
  end
  errors.raise("expect", string.format("the error is not of kind %s and its message does not contain %s",
    show(want), show(want)), { got = string.format("kind %s: %s", show(kind), show(text)),
    expected = string.format("kind %s, or a message containing %s", show(want), show(want)) })
end

-- raises{...}: the error's fields match as in :matches, except that a
-- plain string `message` need only be contained in the message
local function raised_fields(err, want)
  local kind, text = error_parts(err)
  local got = errors.is(err) and err or { kind = kind, message = text }
  local fields, contained = want, nil
  if type(want.message) == "string" then
    fields, contained = {}, want.message
    for k, v in pairs(want) do
      if k ~= "message" then fields[k] = v end
    end
  end
  local lines, paths = mismatches(got, fields)
  if contained and not text:find(contained, 1, true) then
    lines[#lines + 1] = string.format("message: got %s, expected it to contain %s",
      show(text), show(contained))
    paths[#paths + 1] = "message"
  end
  if #lines == 0 then return end
  errors.raise("expect", "the error did not match at " .. table.concat(paths, ", "),
    { got = string.format("kind %s: %s", show(kind), show(text)), expected = show(want),
      diff = table.concat(lines, "\n") })
end

-- :raises([text | fields]) for functions: calls it, expects an error,
-- returns the error. text: its kind, or plain text in its message;
-- fields: {kind=, message=, ...} matched as above.
function Expectation:raises(want)
  local fn = self.value
  if type(fn) ~= "function" then
    errors.raise("expect", "expected a function to call", { got = show(fn) })
  end
  if want ~= nil and type(want) ~= "string" and type(want) ~= "table" then
    errors.usage(":raises expects the text or kind of the error, or a table of its fields, got "
      .. type(want))
  end
  local ok, err = pcall(fn)
  if ok then errors.raise("expect", "expected an error, but the function returned normally") end
  if type(want) == "string" then raised_text(err, want)
  elseif want then raised_fields(err, want) end
  return err
end

-- A misspelt matcher (`:gte`, `:equals`) names the real ones instead of
-- failing with "attempt to call a nil value".
setmetatable(Expectation, { __index = function(_, name)
  if name == "value" then return nil end   -- mp.expect(nil)
  local known = {}
  for k, v in pairs(Expectation) do
    if type(v) == "function" and k:sub(1, 2) ~= "__" then known[#known + 1] = k end
  end
  table.sort(known)
  errors.usage(string.format("mp.expect(...) has no matcher '%s' (known: %s)",
    tostring(name), table.concat(known, ", ")))
end })

function M.expect(value)
  return setmetatable({ value = value }, Expectation)
end

-- mp.fail(message): fails the test here.
function M.fail(message)
  errors.raise("fail", tostring(message or "failed"))
end

return M
