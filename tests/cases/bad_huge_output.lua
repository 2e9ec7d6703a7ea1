-- Huge outputs: megabytes of notes, a huge error message, a huge
-- diagnostic table. The TAP must stay well-formed and bounded, and the
-- tests after them must still report.
local mp = require "mpod"
local LINE = string.rep("n", 99)
mp.test("prints megabytes of notes", function()
  for i = 1, 40000 do mp.note(string.format("%05d %s", i, LINE)) end
end)
mp.test("one note of 4 MB", function() print(string.rep("x", 4 * 1024 * 1024)) end)
mp.test("a huge error message", function() error(string.rep("e", 8 * 1024 * 1024), 0) end)
mp.test("a huge diagnostic table", function()
  local rows, wide = {}, {}
  for i = 1, 100000 do rows[i] = { id = i, name = "row " .. i } end
  for i = 1, 5000 do wide["key" .. i] = i end
  error(setmetatable({ message = "huge table", kind = "data", rows = rows, wide = wide },
    getmetatable(require("mpod.error").new("x", "y"))))
end)
mp.test("still reports", function() end)
