-- A test that waits longer than the file timeout given on the command line.
local mp = require "mpod"
mp.test("waits", function() mp.sleep(3600) end, { timeout = 3600 })
