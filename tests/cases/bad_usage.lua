-- Misuses of the scenario API: each is an error of kind "usage" whose `at`
-- names the line of the mistake. Those that can only happen while the file
-- loads are caught then and raised again by a test of their own.
local mp = require "mpod"

local function at_load(name, misuse)
  local _, err = pcall(misuse)
  mp.test(name, function() error(err, 0) end)
end

at_load("a test without a name", function() mp.test(42, function() end) end)
at_load("a test whose body is not a function", function() mp.test("x", 42) end)
at_load("a test whose options are not a table", function() mp.test("x", function() end, 5) end)
at_load("a test without a body", function() mp.test("x") end)
at_load("a block without a function", function() mp.describe("x") end)
at_load("a hook that is not a function", function() mp.before_each(42) end)

mp.test("a test registered inside a test", function()
  mp.test("late", function() end)
end)

mp.test("mp.spawn without a function", function()
  mp.spawn(42)
end)

mp.test("mp.exec without a command", function()
  mp.exec(42)
end)
