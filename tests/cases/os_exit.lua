-- os.exit in the middle of a file.
local mp = require "mpod"
mp.test("before", function() end)
mp.test("exits", function()
  os.exit(3)
end)
mp.test("after", function() end)
