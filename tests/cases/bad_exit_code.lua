-- os.exit with codes that are not plain integers: Lua itself refuses a
-- fraction and a table, and reads "7" as 7.
local mp = require "mpod"
mp.test("a fraction is refused", function()
  os.exit(3.5)
end)
mp.test("a table is refused", function()
  os.exit({})
end)
mp.test("a numeric string is its number", function()
  os.exit("7")
end)
mp.test("never runs", function() end)
