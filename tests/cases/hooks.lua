-- The order hooks run in, as notes.
local mp = require "mpod"
mp.before_all(function() mp.note("outer before_all") end)
mp.after_all(function() mp.note("outer after_all") end)
mp.before_each(function() mp.note("outer before_each") end)
mp.after_each(function() mp.note("outer after_each") end)
mp.test("top", function() mp.note("top body") end)
mp.describe("inner", function()
  mp.before_all(function() mp.note("inner before_all") end)
  mp.after_all(function() mp.note("inner after_all") end)
  mp.before_each(function() mp.note("inner before_each") end)
  mp.after_each(function() mp.note("inner after_each") end)
  mp.test("nested", function() mp.note("nested body") end)
end)
