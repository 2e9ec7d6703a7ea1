-- Errors raised with values that are not strings: tables with and without
-- a message field, a message that is not a string, __tostring that raises
-- or returns no string, functions, booleans, threads. Each test fails with
-- a readable message; the last one still passes.
local mp = require "mpod"
mp.test("a table with a message", function() error({ message = "boom", code = 7 }) end)
mp.test("a table without a message", function() error({ code = 5, detail = "x" }) end)
mp.test("a table whose message is a table", function() error({ message = { nested = true } }) end)
mp.test("an empty table", function() error({}) end)
mp.test("__tostring that raises", function()
  error(setmetatable({}, { __tostring = function() error("tostring fails") end }))
end)
mp.test("__tostring that returns a number", function()
  error(setmetatable({}, { __tostring = function() return 42 end }))
end)
mp.test("a function", function() error(print) end)
mp.test("a boolean", function() error(false) end)
mp.test("a thread", function() error(coroutine.create(print)) end)
mp.test("a table raised inside pcall and raised again", function()
  local ok, e = pcall(error, { message = "inner" })
  assert(not ok)
  error(e)
end)
mp.test("the run goes on", function() end)
