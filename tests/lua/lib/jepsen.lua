-- jepsen.lua: reads the Jepsen etcd logs that Porcupine ships under
-- test_data/jepsen into op arrays in mpod-lua's history format, for
-- tests/lua/check.lua and bench/linear.lua.
--
-- A line is "INFO  jepsen.util - <process> <type> <f> <value>" (tabs or
-- spaces). The ops are read as Porcupine's own test reads them
-- (porcupine_test.go, parseJepsenLog), so the verdicts can be compared:
--   :invoke/:ok :read nil|N      invoke read / ok read (value N or nil)
--   :invoke/:ok :write N         invoke write N / ok write N
--   :invoke/:ok :cas [a b]       invoke cas {a, b} / ok cas (it swapped)
--   :fail :cas [a b]             ok cas, value false: the cas ran and
--                                found another value (Porcupine's reading)
--   :fail :read :timed-out       info read (its result is unknown)
--   :info <f> :timed-out         info (unknown: it may have happened)
-- Ops still open at the end stay open (an invoke without completion).
-- Each op gets index = its line number - 1 and time = index / 1000.

local M = {}

local LINE = "^INFO%s+jepsen%.util%s+%-%s+(%d+)%s+:(%a+)%s+:(%a+)%s+(.-)%s*$"

local function parse_value(f, text, where)
  if text == "nil" then return nil end
  if text:match("^%d+$") then return tonumber(text) end
  local a, b = text:match("^%[(%d+)%s+(%d+)%]$")
  if a then return { tonumber(a), tonumber(b) } end
  if text == ":timed-out" then return nil, true end
  error(string.format("%s: cannot read the value %q of a %s", where, text, f))
end

-- parse(text, name) -> ops; raises on a line it cannot read
function M.parse(text, name)
  local ops = {}
  local n = 0
  for line in text:gmatch("[^\n]+") do
    n = n + 1
    local where = string.format("%s:%d", name or "log", n)
    local process, t, f, rest = line:match(LINE)
    if not process then error(where .. ": not a jepsen.util line: " .. line) end
    local value, timed_out = parse_value(f, rest, where)
    local op = { index = #ops, time = #ops / 1000, process = tonumber(process), type = t, f = f,
                 value = value }
    if t == "fail" and f == "cas" then
      op.type, op.value = "ok", false
    elseif t == "fail" and f == "read" and timed_out then
      op.type = "info"
    elseif t ~= "invoke" and t ~= "ok" and t ~= "info" then
      error(where .. ": unknown type :" .. t)
    end
    ops[#ops + 1] = op
  end
  return ops
end

-- read(path) -> ops
function M.read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return M.parse(text, path:match("[^/]+$"))
end

-- verdicts(porcupine_test_go_text) -> {[log number] = true|false}, from
-- its checkJepsen(t, N, bool) lines
function M.verdicts(text)
  local v = {}
  for n, b in text:gmatch("checkJepsen%(t,%s*(%d+),%s*(%a+)%)") do v[tonumber(n)] = b == "true" end
  return v
end

return M
