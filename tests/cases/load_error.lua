-- A runtime error at the top level, while the file loads.
local mp = require "mpod"
mp.test("registered", function() end)
local cfg = nil
local port = cfg.port
