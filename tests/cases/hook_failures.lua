-- Failing hooks: before_all fails its block's tests, after_each fails its
-- test, after_all is a failing point of its own.
local mp = require "mpod"
mp.describe("broken setup", function()
  mp.before_all(function() error("database unreachable", 0) end)
  mp.test("a", function() end)
  mp.test("b", function() end)
end)
mp.describe("broken teardown", function()
  mp.after_each(function() error("cleanup failed", 0) end)
  mp.test("c", function() end)
end)
mp.describe("broken after_all", function()
  mp.after_all(function() error("could not reset", 0) end)
  mp.test("d", function() end)
end)
