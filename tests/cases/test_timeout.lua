-- A waiting test past its own timeout; after_each still runs.
local mp = require "mpod"
mp.after_each(function() mp.note("after_each ran") end)
mp.test("waits too long", function() mp.sleep(30) end, { timeout = 0.3 })
mp.test("next", function() end)
