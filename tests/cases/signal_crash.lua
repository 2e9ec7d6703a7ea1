-- The scenario process dies by a signal during a test.
local mp = require "mpod"
local proc = require "mpod.proc"
mp.test("crashes", function() proc.kill(proc.getpid(), "SEGV") end)
