-- mpod/scenario/expect.lua: mp.expect(value) and its matchers.
--
-- A failed matcher raises an mpod error of kind "expect" carrying got,
-- expected (both printable), the scenario line (at) and, for :eq on
-- tables, a diff listing each differing path. Matchers return the
-- expectation, so they chain: mp.expect(res):status(200):has("json").

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

function Expectation:matches(pattern)
  local v = self.value
  return check(self, type(v) == "string" and v:find(pattern) ~= nil,
    "expected a string matching the pattern " .. show(pattern),
    { got = show(v), expected = "pattern " .. show(pattern) })
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

-- :raises([pattern]) for functions: calls it, expects an error (whose
-- message matches the plain text `pattern` when given), returns the error.
function Expectation:raises(pattern)
  local fn = self.value
  if type(fn) ~= "function" then
    errors.raise("expect", "expected a function to call", { got = show(fn) })
  end
  local ok, err = pcall(fn)
  if ok then errors.raise("expect", "expected an error, but the function returned normally") end
  if pattern then
    local text = errors.is(err) and tostring(err.message) or tostring(err)
    if not text:find(pattern, 1, true) then
      errors.raise("expect", "the error did not contain " .. show(pattern), { got = show(text) })
    end
  end
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
