-- free_port.lua: prints a free loopback TCP port as a TAP comment, for the
-- bench scripts ("# port N").
local mp = require "mpod"
mp.test("a free port", function() mp.note("port " .. require("mpod.sys").free_port()) end)
