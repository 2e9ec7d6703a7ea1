-- check_failures.lua: a case file for tests/lua/check.lua: each test
-- fails with the check error of one checker, so the test can read the
-- YAML a user sees (the ops as a block, one op a line).
local mp = require "mpod"

local function op(index, process, type, f, value)
  return { index = index, time = index / 10, process = process, type = type, f = f, value = value }
end

mp.test("linearizable", function()
  mp.check.linearizable {
    op(0, 1, "invoke", "write", 1), op(1, 1, "ok", "write", 1),
    op(2, 2, "invoke", "write", 2), op(3, 2, "ok", "write", 2),
    op(4, 3, "invoke", "read"), op(5, 3, "ok", "read", 1),
  }
end)

mp.test("set", function()
  mp.check.set {
    op(0, 1, "invoke", "add", "x"), op(1, 1, "ok", "add", "x"),
    op(2, 2, "invoke", "read"), op(3, 2, "ok", "read", {}),
  }
end)

mp.test("a valid history passes", function()
  local r = mp.check.linearizable { op(0, 1, "invoke", "write", 1), op(1, 1, "ok", "write", 1) }
  mp.expect(r.valid):eq(true)
end)
