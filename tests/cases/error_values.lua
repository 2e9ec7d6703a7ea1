-- Errors raised with values that are not strings.
local mp = require "mpod"
mp.test("a table", function() error({ code = 5 }) end)
mp.test("nil", function() error(nil) end)
mp.test("a number", function() error(42) end)
mp.test("an object with __tostring", function()
  error(setmetatable({}, { __tostring = function() return "custom failure" end }))
end)
mp.test("a string without position", function() error("plain", 0) end)
mp.test("still runs", function() end)
